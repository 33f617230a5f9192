/**
 * `npm run soak`: many jobs in a row through ONE drover process, watching the core for leaks: 1,000
 * jobs in a row with no file descriptor or memory leak, and the next job still works
 * (docs/reliability.md, "Soak").
 *
 *   1,000 jobs through the built-in shell executor, then 200 through the custom executor (the
 *   shell-driver adapter, with examples/custom-driver), each batch as one `drover exec` with that
 *   many job files and `concurrent = 1`. While it runs, the core's open file descriptors
 *   (/proc/PID/fd) and resident memory (VmRSS in /proc/PID/status) are sampled as jobs complete;
 *   the figures after the first jobs (warm) and before the last one are compared. At the end,
 *   processes still carrying the run's marker and entries left in the run's private TMPDIR are
 *   counted: both must be 0.
 *
 * Not part of `npm test` (minutes, not seconds). The latest figures go into docs/reliability.md.
 * Options: --shell N, --custom N (job counts), --json (one JSON object on stdout).
 * Exits 1 when a job failed, something was left behind, or fds/RSS grew beyond the noise bounds.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { DROVER, ROOT } from "./paths.ts";

const EXAMPLE_DRIVER = join(ROOT, "examples", "custom-driver");

/** Jobs that count as warm-up: the plugin launch, lazily loaded modules, JIT. */
const WARMUP_JOBS = 20;
/** Growth between the warm figure and the end figure that is still noise. */
const FD_NOISE = 4;
const RSS_NOISE_KIB = 32 * 1024;

interface Sample {
  jobs: number;
  fds: number;
  rssKiB: number;
}

interface BatchReport {
  executor: "shell" | "custom";
  jobs: number;
  succeeded: number;
  exitCode: number;
  seconds: number;
  start: Sample;
  end: Sample;
  peakRssKiB: number;
  /** Every 100 jobs: the trend behind start and end. */
  samples: Sample[];
  leftoverProcesses: number;
  leftoverTempEntries: string[];
  ok: boolean;
  problems: string[];
}

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at === -1) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < WARMUP_JOBS + 2) {
    throw new Error(`--${name} needs a whole number of jobs, at least ${WARMUP_JOBS + 2}`);
  }
  return value;
}

function fdCount(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

function rssKiB(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function sample(pid: number, jobs: number): Sample | undefined {
  const fds = fdCount(pid);
  const rss = rssKiB(pid);
  return fds === undefined || rss === undefined ? undefined : { jobs, fds, rssKiB: rss };
}

/** Live (non-zombie) processes whose environment holds `entry`. */
function processesWith(entry: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "latin1");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      if (readFileSync(`/proc/${name}/environ`, "latin1").split("\0").includes(entry))
        found.push(Number(name));
    } catch {
      // gone, or not ours
    }
  }
  return found;
}

/** A GitLab job payload: a little output, a masked variable, an after_script. */
function jobPayload(n: number): string {
  return JSON.stringify({
    id: n,
    token: `soak-token-${n}`,
    job_info: { name: `soak-${n}`, stage: "test", project_id: 1, project_name: "soak" },
    runner_info: { timeout: 600 },
    variables: [
      { key: "GIT_STRATEGY", value: "none" },
      { key: "CI_PROJECT_PATH", value: "soak/project" },
      { key: "SOAK_SECRET", value: `secret-value-${n}-xyz`, masked: true },
    ],
    steps: [
      {
        name: "script",
        script: ['echo "job $CI_JOB_ID says $SOAK_SECRET"', "for i in 1 2 3; do echo line $i; done"],
        timeout: 600,
        when: "on_success",
      },
      { name: "after_script", script: ['echo "after: $CI_JOB_STATUS"'], timeout: 600, when: "always" },
    ],
  });
}

async function runBatch(
  executor: "shell" | "custom",
  jobs: number,
  work: string,
  env: Record<string, string>,
  marker: string,
  tmp: string,
): Promise<BatchReport> {
  const dir = join(work, executor);
  mkdirSync(join(dir, "jobs"), { recursive: true });
  const files: string[] = [];
  for (let n = 1; n <= jobs; n++) {
    const file = join(dir, "jobs", `${String(n).padStart(5, "0")}.json`);
    writeFileSync(file, jobPayload(n));
    files.push(file);
  }
  const config = join(dir, "config.toml");
  writeFileSync(
    config,
    executor === "shell"
      ? `concurrent = 1\nlog_level = "warn"\n[[runners]]\n  name = "soak-shell"\n  executor = "shell"\n  builds_dir = "${join(dir, "builds")}"\n`
      : [
          "concurrent = 1",
          'log_level = "warn"',
          "[[runners]]",
          '  name = "soak-custom"',
          '  executor = "custom"',
          "  [runners.custom]",
          ...["config", "prepare", "run", "cleanup"].map(
            (stage) => `    ${stage}_exec = ${JSON.stringify(join(EXAMPLE_DRIVER, `${stage}.sh`))}`,
          ),
          "",
        ].join("\n"),
  );

  const started = performance.now();
  const proc = Bun.spawn([DROVER, "exec", "--config", config, ...files], {
    cwd: dir,
    env: { ...env, DRIVER_BASE_DIR: join(dir, "driver-base") },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const pid = proc.pid;
  let succeeded = 0;
  let leaked = 0;
  let start: Sample | undefined;
  let end: Sample | undefined;
  let peak = 0;
  const samples: Sample[] = [];
  const secretLeak = /secret-value-\d+-xyz/;
  const decoder = new TextDecoder();
  let pending = "";
  const stderr = new Response(proc.stderr).text();
  for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (secretLeak.test(line)) leaked++;
      if (!line.includes("] Job succeeded")) continue;
      succeeded++;
      // Sampled between jobs, while the core idles between one job's end and the next one's start.
      const now = sample(pid, succeeded);
      if (now) peak = Math.max(peak, now.rssKiB);
      if (now && succeeded % 100 === 0) samples.push(now);
      if (succeeded === WARMUP_JOBS && now) start = now;
      if (succeeded === jobs - 1 && now) end = now;
    }
  }
  const exitCode = await proc.exited;
  const seconds = (performance.now() - started) / 1000;
  const errors = await stderr;
  // Exit paths are asynchronous: give what is left a moment to go before counting it.
  let leftovers = processesWith(marker);
  for (let i = 0; i < 50 && leftovers.length; i++) {
    await Bun.sleep(100);
    leftovers = processesWith(marker);
  }
  const leftoverTempEntries = readdirSync(tmp);

  const problems: string[] = [];
  if (exitCode !== 0)
    problems.push(`drover exited ${exitCode}: ${errors.trim().split("\n").slice(-3).join(" | ")}`);
  if (succeeded !== jobs) problems.push(`${jobs - succeeded} of ${jobs} jobs did not succeed`);
  if (leaked) problems.push(`${leaked} log lines show a masked value`);
  if (!start || !end) problems.push("the core could not be sampled");
  if (start && end && end.fds > start.fds + FD_NOISE)
    problems.push(`open fds grew from ${start.fds} to ${end.fds}`);
  if (start && end && end.rssKiB > start.rssKiB + RSS_NOISE_KIB)
    problems.push(`RSS grew from ${start.rssKiB} KiB to ${end.rssKiB} KiB`);
  if (leftovers.length) problems.push(`${leftovers.length} processes left behind`);
  if (leftoverTempEntries.length) problems.push(`temp entries left: ${leftoverTempEntries.join(", ")}`);
  const none: Sample = { jobs: 0, fds: 0, rssKiB: 0 };
  return {
    executor,
    jobs,
    succeeded,
    exitCode,
    seconds,
    start: start ?? none,
    end: end ?? none,
    peakRssKiB: peak,
    samples,
    leftoverProcesses: leftovers.length,
    leftoverTempEntries,
    ok: problems.length === 0,
    problems,
  };
}

async function main(): Promise<number> {
  if (!existsSync(DROVER)) {
    process.stderr.write(`soak: ${DROVER} is missing; run \`npm run build\` first\n`);
    return 1;
  }
  const counts = { shell: option("shell", 1000), custom: option("custom", 200) };
  const work = mkdtempSync(join(tmpdir(), "drover-soak-"));
  const tmp = join(work, "tmp");
  mkdirSync(tmp);
  const marker = `DROVER_SOAK_MARKER=${process.pid}-${Date.now()}`;
  const [markerName, markerValue] = marker.split("=") as [string, string];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: work,
    XDG_CONFIG_HOME: join(work, ".config"),
    XDG_DATA_HOME: join(work, ".local", "share"),
    LANG: "C.UTF-8",
    TMPDIR: tmp,
    [markerName]: markerValue,
  };
  const reports: BatchReport[] = [];
  try {
    for (const executor of ["shell", "custom"] as const) {
      if (!process.argv.includes("--json"))
        process.stderr.write(`soak: ${counts[executor]} jobs through the ${executor} executor...\n`);
      reports.push(await runBatch(executor, counts[executor], work, env, marker, tmp));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  if (process.argv.includes("--json")) {
    process.stdout.write(`${JSON.stringify({ cpus: cpus().length, reports }, null, 2)}\n`);
  } else {
    const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
    const rows = [
      [
        "executor",
        "jobs",
        "ok",
        "time",
        "fds start→end",
        "RSS start→end",
        "peak RSS",
        "left: procs",
        "left: tmp",
      ],
      ...reports.map((r) => [
        r.executor,
        String(r.jobs),
        String(r.succeeded),
        `${r.seconds.toFixed(1)} s`,
        `${r.start.fds} → ${r.end.fds}`,
        `${mib(r.start.rssKiB)} → ${mib(r.end.rssKiB)}`,
        mib(r.peakRssKiB),
        String(r.leftoverProcesses),
        String(r.leftoverTempEntries.length),
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows)
      process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ")}\n`);
    process.stdout.write(
      `(start = after job ${WARMUP_JOBS}, end = after the next-to-last job; ${cpus().length} CPUs)\n`,
    );
    for (const r of reports)
      for (const problem of r.problems) process.stdout.write(`FAIL ${r.executor}: ${problem}\n`);
  }
  return reports.every((r) => r.ok) ? 0 : 1;
}

process.exit(await main());
