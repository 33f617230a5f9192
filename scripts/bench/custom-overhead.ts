/**
 * e. job overhead of the custom executor (the shell-driver adapter): `drover exec` of a plain job
 * (one `true` line, GIT_STRATEGY=none) through `executor = "custom"` with a no-op driver set, the
 * whole command as a user waits for it, against a bash script that makes the same driver calls
 * itself: config once, prepare once, run once per stage with the same arguments (the same stage
 * scripts and stage names), cleanup once. The target: the shell-driver path within a small factor
 * (×1.5) of calling the same drivers from bash directly (docs/performance.md, benchmark e).
 *
 * The drivers do nothing but exit 0, except run, which must still execute the script it is given
 * (`bash "$1"`). The stage list and the stage scripts of the floor come from traced runs before the
 * measurement, whose run driver also copies each script it gets: the floor then runs exactly what
 * drover ran, and follows drover if its plain-job stages ever change. The traced drivers also write a
 * timestamp at each call, which splits a job's time into: until the first driver call (start-up,
 * plugin launch, Configure), the driver calls, and after cleanup_exec (shutdown, exit).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { JobService } from "../../src/job/job-service.ts";
import { parseJob } from "../../src/job/parse.ts";
import { JobLog } from "../../src/log/job-log.ts";
import { createLogger } from "../../src/log/logger.ts";
import { launchPlugin } from "../../src/plugin/launch.ts";
import { PLUGIN_MODE_COMMAND, pluginSpec } from "../../src/plugin/spec.ts";
import type { BenchContext } from "./context.ts";
import { compare, ms, type Row, ratio, type Stats, spread, stats, timeCommand } from "./harness.ts";
import { jobJson, toml, writeJob } from "./jobs.ts";

const TARGET_RATIO = 1.5;
/**
 * A plain job's stages (docs/jobs.md); the traced run says what drover really runs, this is only for
 * the note.
 */
const PLAIN_JOB_STAGES = ["prepare_script", "get_sources", "build_script", "cleanup_file_variables"];
const DRIVERS = ["config", "prepare", "run", "cleanup"] as const;
const TRACED_RUNS = 5;
/** Phases of a traced run, split by the drivers' own timestamps. */
const TRACE_PHASES = ["spawn to config_exec", "config_exec to cleanup_exec", "cleanup_exec to exit"];

export async function customOverhead(ctx: BenchContext): Promise<Row[]> {
  const drivers = ctx.dir("drivers");
  const trace = ctx.dir("trace");
  const noop = "#!/bin/bash\nexit 0\n";
  const bodies: Record<(typeof DRIVERS)[number], string> = {
    config: noop,
    prepare: noop,
    run: '#!/bin/bash\nbash "$1"\n',
    cleanup: noop,
  };
  for (const name of DRIVERS) writeExecutable(join(drivers, `${name}.sh`), bodies[name]);
  // The traced runner's drivers: the measured ones plus a timestamp in a timeline at each call (a
  // bash builtin, no fork); its run driver also copies each stage script it gets, the first time.
  const timeline = join(trace, "timeline");
  const stamp = (what: string) => `printf '%s %s\\n' ${what} "$EPOCHREALTIME" >>${shellQuote(timeline)}\n`;
  const tracing = (name: (typeof DRIVERS)[number]) => join(drivers, `tracing-${name}.sh`);
  for (const name of ["config", "prepare", "cleanup"] as const)
    writeExecutable(tracing(name), `#!/bin/bash\n${stamp(name)}exit 0\n`);
  writeExecutable(
    tracing("run"),
    "#!/bin/bash\n" +
      stamp('"run-$2"') +
      `trace=${shellQuote(trace)}\n` +
      '[ -e "$trace/$2.sh" ] || { cp -- "$1" "$trace/$2.sh" && printf \'%s\\n\' "$2" >>"$trace/stages"; } || exit 2\n' +
      'bash "$1"\n',
  );

  const work = ctx.dir("custom");
  const config = join(work, "config.toml");
  const runners = [
    runnerToml("custom", (d) => join(drivers, `${d}.sh`), work),
    runnerToml("traced", tracing, work),
  ];
  writeFileSync(config, `${runners.join("\n\n")}\n`);
  // A plain job: no sources to fetch, one `true` line.
  const job = writeJob(work, "job", jobJson(4243, ["true"]));
  const exec = (runner: string) => ({
    argv: [ctx.drover, "exec", "--config", config, "--runner", runner, job],
    cwd: ctx.cwd,
    env: ctx.env,
  });

  // Traced runs, the first one a warm-up: the stage list, and where a job's time goes.
  const phases = TRACE_PHASES.map(() => [] as number[]);
  for (let i = 0; i <= TRACED_RUNS; i++) {
    writeFileSync(timeline, "");
    const started = performance.timeOrigin + performance.now();
    timeCommand(exec("traced"));
    const ended = performance.timeOrigin + performance.now();
    if (i === 0) continue;
    const calls = readFileSync(timeline, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [name, at] = line.split(" ");
        return { name: name!, at: Number(at) * 1000 };
      });
    const first = calls[0];
    const cleanup = calls.find((c) => c.name === "cleanup");
    if (first?.name !== "config" || !cleanup) throw new Error("traced run: driver calls not recognised");
    phases[0]!.push(first.at - started);
    phases[1]!.push(cleanup.at - first.at);
    phases[2]!.push(ended - cleanup.at);
  }
  const stages = readFileSync(join(trace, "stages"), "utf8").split("\n").filter(Boolean);
  if (stages.length === 0) throw new Error("the traced run called run_exec for no stage");

  // The floor: the same four executables, called the same number of times with the same arguments,
  // from a directory of its own (drover calls them in the job's temp dir).
  const floorScript = join(work, "floor.sh");
  const call = (driver: string, ...args: string[]) =>
    [join(drivers, `${driver}.sh`), ...args].map(shellQuote).join(" ");
  writeFileSync(
    floorScript,
    [
      "set -e",
      call("config"),
      call("prepare"),
      ...stages.map((stage) => call("run", join(trace, `${stage}.sh`), stage)),
      call("cleanup"),
      "",
    ].join("\n"),
  );
  const floorCwd = ctx.dir("floor-cwd");

  const runFloor = () => timeCommand({ argv: ["bash", floorScript], cwd: floorCwd, env: ctx.env });
  const { subject, floor } = await compare(() => timeCommand(exec("custom")), runFloor, ctx.counts);
  const warm = await warmPlugin(ctx, config, job, runFloor);
  const calls = stages.length + 3;
  const split = TRACE_PHASES.map((name, i) => `${name} ${ms(stats(phases[i]!).median)}`).join(", ");
  const between = stats(phases[1]!).median / (calls - 1);
  const plain = stages.join(" ") === PLAIN_JOB_STAGES.join(" ");
  return [
    ratioRow("job overhead, custom adapter", subject, floor, [
      `drover adds ${ms(subject.median - floor.median)} per job over ${calls} bare driver calls (${ms(floor.median / calls)} each)`,
      `where it goes (medians of ${TRACED_RUNS} traced runs): ${split}; ${ms(between)} from one driver call's start to the next`,
      `run_exec stages (traced run): ${stages.join(", ")}${plain ? "" : ` (a plain job in docs/jobs.md: ${PLAIN_JOB_STAGES.join(", ")})`}`,
    ]),
    warm,
  ];
}

/** A row of e: drover against the bash script that calls the drivers, as a ratio. */
function ratioRow(name: string, subject: Stats, floor: Stats, notes: string[]): Row {
  return {
    name,
    measured: spread(subject),
    floor: `${spread(floor)} bash→drivers`,
    ratio: ratio(subject.median, floor.median),
    target: `≤ ×${TARGET_RATIO}`,
    met: subject.median / floor.median <= TARGET_RATIO,
    notes,
  };
}

/** Jobs in a row per measured run of the warm variant; the figure is the mean per job. */
const WARM_JOBS = 10;

/**
 * The same job and floor, with the plugin already running: what each job costs a daemon (`drover
 * run` keeps its plugins), without the two process start-ups of a one-shot `drover exec`. The core
 * is drover's job engine in this process (JobService, as `drover run` uses it); the custom adapter
 * is the binary under test in plugin mode, handed to the service as `drover exec` hands over its
 * early launch. Each job goes through Configure, Prepare, the stages and Cleanup, and the drivers.
 */
async function warmPlugin(
  ctx: BenchContext,
  configPath: string,
  jobPath: string,
  runFloor: () => number,
): Promise<Row> {
  const logger = createLogger({ level: "error", pretty: false });
  const { config } = await loadConfig({ explicitPath: configPath, env: ctx.env, cwd: ctx.cwd });
  const runner = config.runners.find((r) => r.name === "custom");
  if (!runner) throw new Error("the bench config has no runner named custom");
  const service = new JobService(config, logger, { localRepositories: true, env: ctx.env });
  const spec = {
    ...pluginSpec("custom", ctx.drover, [PLUGIN_MODE_COMMAND, "custom"]),
    trust: { kind: "builtin" as const },
  };
  service.adoptExecutor(runner, spec, launchPlugin(spec, { logger, handshakeTimeoutMs: 10_000 }));
  const text = readFileSync(jobPath, "utf8");
  const never = new AbortController().signal;
  const oneJob = async () => {
    const job = parseJob(text, jobPath);
    const log = new JobLog({ sink: { write() {} }, color: false });
    const result = await service.run(job, runner, { log, cancel: never, abort: never });
    if (result.status !== "success") throw new Error(`warm custom job: ${result.status}`);
  };
  try {
    const perJob = async (one: () => Promise<void> | number) => {
      const started = performance.now();
      for (let i = 0; i < WARM_JOBS; i++) await one();
      return (performance.now() - started) / WARM_JOBS;
    };
    const { subject, floor } = await compare(
      () => perJob(oneJob),
      () => perJob(runFloor),
      { warmups: 1, runs: ctx.counts.runs },
    );
    return ratioRow("job overhead, custom adapter, warm plugin", subject, floor, [
      `the same job with the custom plugin already running (as in drover run), mean of ${WARM_JOBS} jobs in a row: drover adds ${ms(subject.median - floor.median)} per job`,
    ]);
  } finally {
    await service.shutdown();
  }
}

/** A `[[runners]]` section with the given drivers; the builds dir is the runner's, config_exec says nothing. */
function runnerToml(name: string, driver: (name: (typeof DRIVERS)[number]) => string, work: string): string {
  const s = toml;
  return [
    "[[runners]]",
    `  name = ${s(name)}`,
    '  executor = "custom"',
    `  builds_dir = ${s(join(work, "builds"))}`,
    `  cache_dir = ${s(join(work, "cache"))}`,
    "  [runners.custom]",
    `    config_exec = ${s(driver("config"))}`,
    `    prepare_exec = ${s(driver("prepare"))}`,
    `    run_exec = ${s(driver("run"))}`,
    `    cleanup_exec = ${s(driver("cleanup"))}`,
  ].join("\n");
}

function writeExecutable(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o755 });
}

/** A word for bash, single-quoted. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}
