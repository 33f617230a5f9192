/**
 * `drover exec`: run one or more jobs now, on this host, through one runner's executor, with the job
 * log on stdout (README.md, "Usage").
 */
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { DroverError } from "../../kernel/errors.ts";
import { killAllChildren } from "../../kernel/process/child.ts";
import { loadDotenv } from "../config/dotenv.ts";
import { loadConfig } from "../config/load.ts";
import type { Config, RunnerConfig } from "../config/model.ts";
import { formatProblem } from "../config/problems.ts";
import { ExitStatus } from "../exit-status.ts";
import { adHocJob } from "../job/adhoc.ts";
import type { JobService } from "../job/job-service.ts";
import type { Job } from "../job/model.ts";
import { parseJob } from "../job/parse.ts";
import { exitStatusForResult, type JobResult } from "../job/result.ts";
import { formatDuration, JobLog } from "../log/job-log.ts";
import { createLogger } from "../log/logger.ts";
import { stdoutSink } from "../log/sinks.ts";
import { discardLaunch, launchPlugin } from "../plugin/launch.ts";
import { executorPluginSpec } from "../plugin/resolve.ts";
import { parseArgs } from "./args.ts";
import { trapStopSignals } from "./signals.ts";
import { usageError } from "./usage.ts";

export async function execCommand(
  argv: string[],
  options: { logLevel: string | undefined },
): Promise<number> {
  const args = parseArgs(argv, { values: ["config", "runner", "artifacts-dir"] });
  if (args.rest !== undefined && args.positionals.length) {
    throw usageError("give either job files or `-- 'command' ...`, not both");
  }
  if (args.rest === undefined && !args.positionals.length)
    throw usageError("exec needs a job file or `-- 'command' ...`");
  if (args.rest !== undefined && !args.rest.length) throw usageError("exec -- needs at least one command");

  const explicitPath = args.values.get("config");
  const { config, warnings } = await loadConfig({
    ...(explicitPath === undefined ? {} : { explicitPath }),
    env: process.env,
    cwd: process.cwd(),
  });
  const logger = createLogger({
    level: options.logLevel ?? config.logLevel ?? "warn",
    pretty: Boolean(process.stderr.isTTY),
  });
  // The runner's .env, before any plugin starts: what it sets is the administrator's environment.
  const dotenv = loadDotenv(config.source);
  for (const warning of [...warnings, ...dotenv.warnings])
    logger.warn({ problem: formatProblem(warning) }, "configuration warning");
  if (dotenv.file) logger.info({ file: dotenv.file, variables: dotenv.names }, "read the runner's .env");
  const runner = pickRunner(config, args.values.get("runner"));

  // Every job is read and checked before anything runs.
  const jobs: Job[] =
    args.rest !== undefined
      ? [adHocJob(args.rest, { cwd: process.cwd(), id: String(Date.now() % 1_000_000_000) })]
      : args.positionals.map((file) => parseJob(readJobFile(file), file));
  const spec = executorPluginSpec(runner);
  let started: JobService | undefined;
  const signals = trapStopSignals(
    () =>
      process.stderr.write(
        "\ndrover: cancelling (after_script and cleanup still run); press Ctrl-C again to abort\n",
      ),
    () => {
      process.stderr.write("\ndrover: aborting\n");
      if (started) started.kill();
      else killAllChildren();
    },
  );

  // The executor plugin starts now, before the job engine and the gRPC stack are loaded: the
  // plugin's start-up (its own process, loading its own modules) runs on another CPU while this one
  // loads ours, instead of after it (scripts/bench b; docs/performance.md).
  const launching = launchPlugin(spec, { logger, handshakeTimeoutMs: config.pluginHandshakeTimeoutMs });
  // A launch that fails (a plugin refused by its checks, a broken handshake) is the first job's
  // error, through PluginHost.adopt; until it is adopted, nothing else awaits it.
  launching.catch(() => undefined);
  let service: JobService;
  try {
    service = new (await import("../job/job-service.ts")).JobService(config, logger, {
      localRepositories: true,
      artifactsDir: artifactsDir(args.values.get("artifacts-dir")),
    });
    service.adoptExecutor(runner, spec, launching);
  } catch (err) {
    // The plugin goes at once, not after its handshake; Ctrl-C stays trapped until it is gone.
    killAllChildren();
    await discardLaunch(launching);
    signals.dispose();
    throw err;
  }
  started = service;
  // A second Ctrl-C while the engine was loading killed the plugin: no job may start another.
  if (signals.abort.aborted) service.kill();
  const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  const sink = stdoutSink();
  const several = jobs.length > 1;

  const results: JobResult[] = [];
  try {
    const limit = Math.max(1, Math.min(config.concurrent, runner.limit || Number.POSITIVE_INFINITY));
    await forEachLimited(jobs, limit, async (job) => {
      const log = new JobLog({
        sink,
        color,
        limitBytes: runner.outputLimitBytes,
        ...(several ? { prefix: `[${job.name}] ` } : {}),
      });
      const result = await service.run(job, runner, { log, cancel: signals.cancel, abort: signals.abort });
      summarize(log, result);
      results.push(result);
    });
  } finally {
    signals.dispose();
    await service.shutdown();
  }
  return worstStatus(results);
}

/**
 * Where `drover exec` keeps artifacts and serves `dependencies` from: `--artifacts-dir`, else
 * `$XDG_DATA_HOME/drover/artifacts` (beside the shell executor's builds), made 0700. Jobs run one
 * after another with the same directory form a pipeline.
 */
function artifactsDir(flag: string | undefined): string {
  const dir = flag
    ? resolve(flag)
    : join(process.env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "drover", "artifacts");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Another user who could write there could hand a later job their archive as its dependency.
  const stats = statSync(dir);
  const uid = process.getuid?.() ?? stats.uid;
  const problem = !stats.isDirectory()
    ? "is not a directory"
    : stats.uid !== uid
      ? `is owned by uid ${stats.uid}, not by you (uid ${uid})`
      : (stats.mode & 0o022) !== 0
        ? `may be written by others (mode ${(stats.mode & 0o7777).toString(8).padStart(4, "0")})`
        : undefined;
  if (problem !== undefined) {
    throw new DroverError(
      "config_invalid",
      `the artifacts directory ${JSON.stringify(dir)} ${problem}: another user could plant the artifacts a job downloads; use a directory of your own (chmod go-w)`,
      { file: dir },
    );
  }
  return dir;
}

function pickRunner(config: Config, name: string | undefined): RunnerConfig {
  if (name === undefined) return config.runners[0]!;
  const runner = config.runners.find((r) => r.name === name);
  if (!runner) {
    throw new DroverError(
      "config_invalid",
      `no runner named ${JSON.stringify(name)} in ${config.source ?? "the built-in configuration"}; runners: ${config.runners.map((r) => r.name).join(", ")}`,
    );
  }
  return runner;
}

function readJobFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DroverError(
      "job_invalid",
      `cannot read job file ${JSON.stringify(file)}: ${code === "ENOENT" ? "no such file" : String((err as Error).message)}`,
      { file },
    );
  }
}

/** The last line of a job's log, GitLab style. */
function summarize(log: JobLog, result: JobResult): void {
  const took = formatDuration(result.durationMs);
  if (result.status === "success") {
    log.line(`Job succeeded in ${took}`, "success");
  } else if (result.status === "canceled") {
    log.line(`ERROR: Job canceled after ${took}`, "error");
  } else if (result.reason === "script_failure" && result.exitCode !== undefined) {
    log.line(`ERROR: Job failed: exit code ${result.exitCode} (${result.reason}, after ${took})`, "error");
  } else {
    log.line(`ERROR: Job failed: ${result.message} (${result.reason}, after ${took})`, "error");
  }
  log.flush();
}

/** Several jobs: the most serious outcome decides (system failure > canceled > failed > ok). */
function worstStatus(results: JobResult[]): number {
  const statuses = results.map(exitStatusForResult);
  const rank = [
    ExitStatus.ok,
    ExitStatus.jobFailed,
    ExitStatus.canceled,
    ExitStatus.systemFailure,
    ExitStatus.config,
  ] as number[];
  return statuses.reduce<number>(
    (worst, s) => (rank.indexOf(s) > rank.indexOf(worst) ? s : worst),
    ExitStatus.ok,
  );
}

/** Runs `fn` over `items`, at most `limit` at once. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
