/**
 * g. concurrency: 32 jobs of `sleep 1` at once through one shell runner (`concurrent = 32`), the
 * whole thing as a user waits for it, against 32 `bash -c 'sleep 1'` started at once:
 *
 *   - `drover exec` given 32 job files (it runs them concurrently up to `concurrent`): spawn to exit;
 *   - `drover run` with the fake coordinator of the e2e tests (test/fixtures/fake-coordinator.ts)
 *     holding 32 queued jobs: spawn to the 32nd final state recorded by the coordinator.
 *
 * The core's memory (the drover process itself; the shell plugin is a child of its own): its peak
 * RSS (VmHWM, polled from /proc) during the 32 jobs, against one job through `drover exec`; and
 * whether it grows with the number of jobs run: one `drover run` takes batches of 32 in a row (16,
 * the row compares the 1st and the 4th), and its resident set is read when each batch is over.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FakeCoordinator } from "../../test/fixtures/fake-coordinator.ts";
import type { BenchContext } from "./context.ts";
import { compare, type Row, ratio, type Stats, stats } from "./harness.ts";
import { jobJson, toml, writeJob } from "./jobs.ts";
import { mib, ProcWatch, readProc } from "./proc.ts";

const JOBS = 32;
const BATCHES = 4;
/**
 * The daemon's batches in a row for the RSS trace: longer than BATCHES, because a garbage-collected
 * heap grows until a full collection; a few batches cannot tell that from a leak.
 */
const SEQUENCE_BATCHES = 16;
const TARGET_WALL_MS = 2_500;
const TARGET_RSS_KIB = 150 * 1024;
/** RSS after 128 jobs over RSS after 32: above this, memory grows with the number of jobs. */
const GROWTH_LIMIT = 1.1;
const COUNTS = { warmups: 1, runs: 5 };
const BASELINE_RUNS = 3;
/** After a batch, time for the last job's cleanup and the trace uploads to settle before reading RSS. */
const SETTLE_MS = 300;
const RUNNER_TOKEN = "bench-runner-token";

export async function concurrency(ctx: BenchContext): Promise<Row[]> {
  const work = ctx.dir("concurrency");
  const builds = join(work, "builds");

  // ---- drover exec ------------------------------------------------------------------------------
  const execConfig = join(work, "exec.toml");
  writeFileSync(
    execConfig,
    [
      `concurrent = ${JOBS}`,
      "[[runners]]",
      '  name = "shell"',
      '  executor = "shell"',
      `  builds_dir = ${toml(builds)}`,
      `  limit = ${JOBS}`,
      "",
    ].join("\n"),
  );
  const jobsDir = ctx.dir("concurrency/jobs");
  const files = Array.from({ length: JOBS * BATCHES }, (_, i) =>
    writeJob(jobsDir, `job-${i + 1}`, jobJson(7000 + i, ["sleep 1"])),
  );
  const exec = async (jobFiles: readonly string[]): Promise<{ wallMs: number; hwmKiB: number }> => {
    const started = performance.now();
    const proc = Bun.spawn([ctx.drover, "exec", "--config", execConfig, ...jobFiles], {
      cwd: ctx.cwd,
      env: ctx.env,
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    const watch = new ProcWatch(proc.pid);
    const stderr = new Response(proc.stderr).text();
    const code = await proc.exited;
    const wallMs = performance.now() - started;
    const usage = watch.stop();
    if (code !== 0)
      throw new Error(`drover exec of ${jobFiles.length} jobs exited with ${code}: ${await stderr}`);
    return { wallMs, hwmKiB: usage.core?.hwmKiB ?? 0 };
  };
  const floor = async (): Promise<number> => {
    const started = performance.now();
    const procs = Array.from({ length: JOBS }, () =>
      Bun.spawn(["bash", "-c", "sleep 1"], {
        env: ctx.env,
        stdin: "ignore",
        stdout: "ignore",
        stderr: "ignore",
      }),
    );
    const codes = await Promise.all(procs.map((p) => p.exited));
    if (codes.some((c) => c !== 0)) throw new Error(`bash -c 'sleep 1' exited with ${codes.join(",")}`);
    return performance.now() - started;
  };

  const execHwm: number[] = [];
  const execTimes = await compare(
    async () => {
      const run = await exec(files.slice(0, JOBS));
      execHwm.push(run.hwmKiB);
      return run.wallMs;
    },
    floor,
    COUNTS,
  );
  const execPeak = stats(execHwm.slice(COUNTS.warmups));
  const baseline: number[] = [];
  for (let i = 0; i < BASELINE_RUNS; i++) baseline.push((await exec(files.slice(0, 1))).hwmKiB);
  const onePeak = stats(baseline);
  const exec128 = await exec(files);

  // ---- drover run + the fake coordinator ---------------------------------------------------------
  await using fake = await FakeCoordinator.start();
  fake.acceptRunner(RUNNER_TOKEN);
  const runConfig = join(work, "run.toml");
  writeFileSync(
    runConfig,
    [
      `concurrent = ${JOBS}`,
      "check_interval = 1",
      "shutdown_timeout = 20",
      "[[runners]]",
      '  name = "shell"',
      `  url = ${toml(fake.url)}`,
      `  token = ${toml(RUNNER_TOKEN)}`,
      '  executor = "shell"',
      `  builds_dir = ${toml(builds)}`,
      `  limit = ${JOBS}`,
      "",
    ].join("\n"),
  );
  const enqueue = () =>
    Array.from({ length: JOBS }, () => fake.enqueue(RUNNER_TOKEN, { script: ["sleep 1"] }));
  const allFinal = async (ids: readonly number[], deadlineMs: number): Promise<number> => {
    const limit = performance.now() + deadlineMs;
    while (!ids.every((id) => fake.job(id).final !== undefined)) {
      if (performance.now() > limit) {
        const done = ids.filter((id) => fake.job(id).final !== undefined).length;
        throw new Error(
          `drover run: ${done} of ${ids.length} jobs reached a final state in ${deadlineMs} ms`,
        );
      }
      await Bun.sleep(2);
    }
    const failed = ids.filter((id) => fake.job(id).status !== "success");
    if (failed.length) throw new Error(`drover run: jobs ${failed.join(", ")} did not succeed`);
    return performance.now();
  };
  /** Starts the daemon, runs `batches` batches of 32 (queued one after the other), stops it. */
  const daemon = async (batches: number) => {
    const first = enqueue();
    const started = performance.now();
    const proc = Bun.spawn([ctx.drover, "run", "--config", runConfig], {
      cwd: ctx.cwd,
      env: ctx.env,
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    const watch = new ProcWatch(proc.pid);
    const stderr = new Response(proc.stderr).text();
    const rssAfter: number[] = [];
    let wallMs = 0;
    try {
      wallMs = (await allFinal(first, 30_000)) - started;
      for (let batch = 1; batch <= batches; batch++) {
        if (batch > 1) await allFinal(enqueue(), 30_000);
        await Bun.sleep(SETTLE_MS);
        rssAfter.push(readProc(proc.pid)?.rssKiB ?? 0);
      }
    } finally {
      proc.kill("SIGTERM");
    }
    const code = await proc.exited;
    const usage = watch.stop();
    if (code !== 0) throw new Error(`drover run exited with ${code}: ${(await stderr).slice(-2000)}`);
    return { wallMs, hwmKiB: usage.core?.hwmKiB ?? 0, rssAfter };
  };

  const runHwm: number[] = [];
  const runTimes = await compare(
    async () => {
      const run = await daemon(1);
      runHwm.push(run.hwmKiB);
      return run.wallMs;
    },
    floor,
    COUNTS,
  );
  const runPeak = stats(runHwm.slice(COUNTS.warmups));
  const sequence = await daemon(SEQUENCE_BATCHES);
  const after32 = sequence.rssAfter[0]!;
  const after128 = sequence.rssAfter[BATCHES - 1]!;
  const growth = after128 / after32;
  const later = sequence.rssAfter.slice(BATCHES - 1);

  const wallRow = (name: string, s: { subject: Stats; floor: Stats }, notes: string[]): Row => ({
    name,
    measured: secondsSpread(s.subject),
    floor: `${secondsSpread(s.floor)} 32× sleep 1`,
    ratio: ratio(s.subject.median, s.floor.median),
    target: `≤ ${(TARGET_WALL_MS / 1000).toFixed(1)} s`,
    met: s.subject.median <= TARGET_WALL_MS,
    notes,
  });
  const rssRow = (name: string, peak: Stats, notes: string[]): Row => ({
    name,
    measured: mibSpread(peak),
    floor: `${mibSpread(onePeak)} 1 job`,
    ratio: ratio(peak.median, onePeak.median),
    target: `≤ ${mib(TARGET_RSS_KIB)}`,
    met: peak.median <= TARGET_RSS_KIB,
    notes,
  });
  return [
    wallRow(`${JOBS}× sleep 1: drover exec`, execTimes, [
      `drover adds ${seconds(execTimes.subject.median - execTimes.floor.median)} to 32 concurrent sleeps (spawn to exit)`,
    ]),
    wallRow(`${JOBS}× sleep 1: drover run`, runTimes, [
      `spawn of drover run until all ${JOBS} final states are at the fake coordinator (check_interval 1 s, request_concurrency 1); most jobs at once: ${fake.maxActive}`,
    ]),
    rssRow(`core peak RSS, ${JOBS} jobs: exec`, execPeak, [
      `VmHWM of the drover process; floor: drover exec of one such job; with ${JOBS * BATCHES} job files (4 waves of ${JOBS}) the exec peak is ${mib(exec128.hwmKiB)}`,
    ]),
    rssRow(`core peak RSS, ${JOBS} jobs: run`, runPeak, [
      `VmHWM of the drover run process over the ${JOBS} jobs`,
    ]),
    {
      name: `core RSS after ${JOBS} → ${JOBS * BATCHES} jobs: run`,
      measured: `${mib(after128)} after ${JOBS * BATCHES}`,
      floor: `${mib(after32)} after ${JOBS}`,
      ratio: ratio(after128, after32),
      target: `≤ ×${GROWTH_LIMIT.toFixed(2)}`,
      met: growth <= GROWTH_LIMIT,
      notes: [
        `VmRSS of one drover run ${SETTLE_MS} ms after each batch of ${JOBS} (jobs done: MiB): ${sequence.rssAfter.map((kib, i) => `${(i + 1) * JOBS}: ${(kib / 1024).toFixed(1)}`).join(", ")}`,
        `after ${JOBS * BATCHES} jobs and later: lowest ${mib(Math.min(...later))}, highest ${mib(Math.max(...later))}, last ${mib(later[later.length - 1]!)}; peak over ${JOBS * SEQUENCE_BATCHES} jobs ${mib(sequence.hwmKiB)}`,
      ],
    },
  ];
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function secondsSpread(s: Stats): string {
  return `${seconds(s.median)} (${(s.min / 1000).toFixed(2)}–${(s.max / 1000).toFixed(2)})`;
}

function mibSpread(s: Stats): string {
  return `${mib(s.median)} (${(s.min / 1024).toFixed(1)}–${(s.max / 1024).toFixed(1)})`;
}
