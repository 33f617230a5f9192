/**
 * e. job overhead of the custom executor (the shell-driver adapter): `drover exec` of a plain job
 * (one `true` line, GIT_STRATEGY=none) through `executor = "custom"` with a no-op driver set, the
 * whole command as a user waits for it, against a bash script that makes the same driver calls
 * itself: config once, prepare once, run once per stage with the same arguments (the same stage
 * scripts and stage names), cleanup once. SPEC §11: "the shell-driver path within a small factor of
 * calling the same driver from bash directly".
 *
 * The drivers do nothing but exit 0, except run, which must still execute the script it is given
 * (`bash "$1"`). The stage list and the stage scripts of the floor come from one traced run before
 * the measurement, whose run driver also copies each script it gets: the floor then runs exactly what
 * drover ran, and follows drover if its plain-job stages ever change.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchContext } from "./context.ts";
import { compare, ms, type Row, ratio, spread, timeCommand } from "./harness.ts";

const TARGET_RATIO = 1.5;
/** SPEC §6, a plain job; the traced run says what drover really runs, this is only for the note. */
const PLAIN_JOB_STAGES = ["prepare_script", "get_sources", "build_script", "cleanup_file_variables"];
const DRIVERS = ["config", "prepare", "run", "cleanup"] as const;

export async function customOverhead(ctx: BenchContext): Promise<Row> {
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
  // The traced run's run driver: the measured one plus a copy of its arguments.
  const tracingRun = join(drivers, "tracing-run.sh");
  writeExecutable(
    tracingRun,
    "#!/bin/bash\n" +
      `trace=${shellQuote(trace)}\n` +
      'cp -- "$1" "$trace/$2.sh" && printf \'%s\\n\' "$2" >>"$trace/stages" || exit 2\n' +
      'bash "$1"\n',
  );

  const work = ctx.dir("custom");
  const config = join(work, "config.toml");
  const runners = [
    runnerToml("custom", drivers, join(drivers, "run.sh"), work),
    runnerToml("traced", drivers, tracingRun, work),
  ];
  writeFileSync(config, `${runners.join("\n\n")}\n`);
  const job = join(work, "job.json");
  writeFileSync(job, `${JSON.stringify(plainJob(), null, 2)}\n`);
  const exec = (runner: string) => ({
    argv: [ctx.drover, "exec", "--config", config, "--runner", runner, job],
    cwd: ctx.cwd,
    env: ctx.env,
  });

  timeCommand(exec("traced"));
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

  const { subject, floor } = await compare(
    () => timeCommand(exec("custom")),
    () => timeCommand({ argv: ["bash", floorScript], cwd: floorCwd, env: ctx.env }),
    ctx.counts,
  );
  const r = subject.median / floor.median;
  const plain = stages.join(" ") === PLAIN_JOB_STAGES.join(" ");
  return {
    name: "job overhead, custom adapter",
    measured: spread(subject),
    floor: `${spread(floor)} bash→drivers`,
    ratio: ratio(subject.median, floor.median),
    target: `≤ ×${TARGET_RATIO}`,
    met: r <= TARGET_RATIO,
    notes: [
      `drover adds ${ms(subject.median - floor.median)} per job over ${stages.length + 3} bare driver calls`,
      `run_exec stages (traced run): ${stages.join(", ")}${plain ? "" : ` (SPEC's plain job: ${PLAIN_JOB_STAGES.join(", ")})`}`,
    ],
  };
}

/** A `[[runners]]` section with the no-op drivers; the builds dir is the runner's, config_exec says nothing. */
function runnerToml(name: string, drivers: string, runExec: string, work: string): string {
  const s = JSON.stringify; // a JSON string is a valid TOML basic string
  return [
    "[[runners]]",
    `  name = ${s(name)}`,
    '  executor = "custom"',
    `  builds_dir = ${s(join(work, "builds"))}`,
    `  cache_dir = ${s(join(work, "cache"))}`,
    "  [runners.custom]",
    `    config_exec = ${s(join(drivers, "config.sh"))}`,
    `    prepare_exec = ${s(join(drivers, "prepare.sh"))}`,
    `    run_exec = ${s(runExec)}`,
    `    cleanup_exec = ${s(join(drivers, "cleanup.sh"))}`,
  ].join("\n");
}

/** A plain job in GitLab's job JSON: no sources to fetch, one `true` line. */
function plainJob() {
  const zeros = "0".repeat(40);
  return {
    id: 4243,
    token: "bench-job-token-7d1e0b5c",
    job_info: { name: "bench", stage: "test", project_id: 1, project_name: "bench" },
    git_info: {
      repo_url: "https://gitlab.invalid/bench/bench.git",
      ref: "main",
      sha: zeros,
      before_sha: zeros,
      ref_type: "branch",
      refspecs: [],
      depth: 0,
    },
    runner_info: { timeout: 600 },
    variables: [
      { key: "CI_PROJECT_PATH", value: "bench/bench", public: true },
      { key: "GIT_STRATEGY", value: "none", public: true },
    ],
    steps: [{ name: "script", script: ["true"], timeout: 600, when: "on_success", allow_failure: false }],
  };
}

function writeExecutable(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o755 });
}

/** A word for bash, single-quoted. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}
