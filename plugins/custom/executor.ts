/**
 * The built-in `custom` executor (`executor = "custom"`): the shell-driver adapter. It implements
 * the Executor service by running GitLab custom executor drivers, unmodified (docs/custom-executor.md):
 *
 *   Configure → job temp dir + response.json, then `config_exec [config_args]` (stdout: JSON answer)
 *   Prepare   → `prepare_exec [prepare_args]` once
 *   Run       → `run_exec [run_args] <script path> <stage name>` once per stage, a new process each
 *   Cleanup   → `cleanup_exec [cleanup_args]` always, then the temp dir goes
 *
 * The core owns the retries (prepare: 3 attempts with a Cleanup after each failed one), the stage
 * timeouts and what a result means for the job; this plugin owns the driver calls, their
 * environment, their own timeouts (config/prepare/cleanup) and what their exit codes mean.
 */
import {
  type ConfigureEventSchema,
  DroverError,
  type ExecutorPlugin,
  type JobConfigSchema,
  type MessageInitShape,
  ResultKind,
  result,
} from "@drover/plugin-sdk";
import { type ConfigOverrides, parseConfigOutput } from "./config-output.ts";
import { CustomJob } from "./custom-job.ts";
import type { DriverResult } from "./exit-status.ts";
import { writeStageScript } from "./job-dir.ts";
import { readCustomSettings } from "./settings.ts";

type ConfigureEvent = MessageInitShape<typeof ConfigureEventSchema>;
type JobConfigInit = MessageInitShape<typeof JobConfigSchema>;

export function customExecutor(version: string): ExecutorPlugin {
  const jobs = new Map<string, CustomJob>();
  /** Temp dirs of cleaned-up jobs still being removed. */
  const disposals = new Set<Promise<void>>();
  /** shutdown() has begun. */
  let closing = false;

  return {
    info: { name: "custom", version, capabilities: ["cancel"] },
    handlers: {
      async *configure(request, ctx) {
        const context = request.job;
        const jobId = context?.jobId ?? "";
        const read = readCustomSettings(parseSettingsJson(context?.runnerSettingsJson ?? ""));
        if (read.settings === undefined) {
          const problem = read.problems.find((p) => p.severity === "error");
          const where = problem?.path.length ? `custom.${problem.path.join(".")}: ` : "";
          yield configured({
            kind: ResultKind.CONFIGURATION_ERROR,
            exitCode: 0,
            message: `${where}${problem?.message ?? "invalid [runners.custom]"}`,
          });
          return;
        }
        // A Configure for a job still known (not cleaned up) starts it over.
        await jobs.get(jobId)?.dispose();
        let job: CustomJob;
        try {
          job = new CustomJob(context!, read.settings);
        } catch (err) {
          yield configured(failure(`could not set up the job: ${DroverError.from(err).shortMessage}`));
          return;
        }
        jobs.set(jobId, job);
        const { configExec, configArgs, configExecTimeoutSeconds } = job.settings;
        if (configExec === undefined) {
          yield configured(ok(), {});
          return;
        }
        const outcome = yield* job.call("config_exec", configExec, configArgs, ctx.signal, {
          timeoutSeconds: configExecTimeoutSeconds,
          captureStdout: true,
        });
        if (outcome.result.kind !== ResultKind.SUCCESS) {
          yield configured(outcome.result);
          return;
        }
        const parsed = parseConfigOutput(outcome.stdout.toString("utf8"));
        if (!parsed.ok) {
          // A system failure: the core retries the whole prepare (GitLab: "retried two more times").
          yield configured(failure(parsed.message));
          return;
        }
        // job_env stays here: it is the environment of every later driver call (driver-env.ts), and
        // GitLab never puts it into the job's own scripts ("not automatically available to the job
        // itself"), which is what the core does with a Configure answer's job_env. A driver passing
        // credentials to its later stages this way must not hand them to the job.
        const { jobEnv, ...forTheCore } = parsed.overrides;
        job.jobEnv = jobEnv ?? {};
        yield configured(ok(), forTheCore);
      },

      async *prepare(request, ctx) {
        const job = jobs.get(request.job?.jobId ?? "");
        if (job === undefined) {
          yield result(ResultKind.SYSTEM_FAILURE, 0, unknownJob(request.job?.jobId));
          return;
        }
        // Now with every predefined variable filled in (CI_PROJECT_DIR, CI_BUILDS_DIR, ...).
        job.variables = request.job?.variables ?? [];
        const { prepareExec, prepareArgs, prepareExecTimeoutSeconds } = job.settings;
        if (prepareExec === undefined) {
          yield result(ResultKind.SUCCESS);
          return;
        }
        const outcome = yield* job.call("prepare_exec", prepareExec, prepareArgs, ctx.signal, {
          timeoutSeconds: prepareExecTimeoutSeconds,
        });
        yield stageResult(outcome.result);
      },

      async *run(request, ctx) {
        const job = jobs.get(request.jobId);
        if (job === undefined) {
          yield result(ResultKind.SYSTEM_FAILURE, 0, unknownJob(request.jobId));
          return;
        }
        let script: string;
        try {
          script = writeStageScript(job.dir, request.script);
        } catch (err) {
          yield result(
            ResultKind.SYSTEM_FAILURE,
            0,
            `could not write the ${request.stage} script: ${DroverError.from(err).shortMessage}`,
          );
          return;
        }
        const { runExec, runArgs } = job.settings;
        const outcome = yield* job.call(
          "run_exec",
          runExec,
          [...runArgs, script, request.stage],
          ctx.signal,
          {
            jobStatus: request.jobStatus,
          },
        );
        yield stageResult(outcome.result);
      },

      async *cleanup(request, ctx) {
        const job = jobs.get(request.jobId);
        if (job === undefined) {
          yield result(ResultKind.SUCCESS);
          return;
        }
        jobs.delete(request.jobId);
        try {
          const { cleanupExec, cleanupArgs, cleanupExecTimeoutSeconds } = job.settings;
          if (cleanupExec === undefined) {
            await job.idle();
            yield result(ResultKind.SUCCESS);
            return;
          }
          // Output goes back as events: the core logs stdout at debug and stderr at warn, never in
          // the job log; a failure becomes "WARNING: Cleanup script failed: ..." there.
          const outcome = yield* job.call("cleanup_exec", cleanupExec, cleanupArgs, ctx.signal, {
            timeoutSeconds: cleanupExecTimeoutSeconds,
            jobStatus: request.jobStatus,
          });
          yield stageResult(outcome.result);
        } finally {
          // The driver processes are gone (job.call waited for them); the temp dir goes after the
          // answer, so that the core's job does not wait for the file system. shutdown() waits
          // for those under way; once it has begun, this call removes the dir before it ends, so
          // that the server's drain (which waits for calls in flight) covers it.
          const disposal = job
            .dispose()
            .catch((err: unknown) => {
              // drover forwards a plugin's stderr to its log (and removes the dir once this exits).
              process.stderr.write(
                `could not remove ${job.dir.path}: ${DroverError.from(err).shortMessage}\n`,
              );
            })
            .finally(() => disposals.delete(disposal));
          disposals.add(disposal);
          if (closing) await disposal;
        }
      },
    },

    async shutdown() {
      closing = true;
      const all = [...jobs.values()];
      jobs.clear();
      await Promise.all([...all.map((job) => job.dispose()), ...disposals]);
    },
  };
}

/** `runner_settings_json` is `[runners.custom]`; anything that is not JSON counts as no table at all. */
function parseSettingsJson(json: string): unknown {
  try {
    return JSON.parse(json || "null");
  } catch {
    return undefined;
  }
}

function ok(): DriverResult {
  return { kind: ResultKind.SUCCESS, exitCode: 0, message: "" };
}

function failure(message: string): DriverResult {
  return { kind: ResultKind.SYSTEM_FAILURE, exitCode: 0, message };
}

function unknownJob(jobId: string | undefined): string {
  return `the custom executor knows no job ${JSON.stringify(jobId ?? "")}: Configure was not called, or Cleanup already was`;
}

function stageResult(r: DriverResult) {
  return result(r.kind, r.exitCode, r.message);
}

/** Configure's final event; `overrides` only with a successful status. */
function configured(status: DriverResult, overrides?: ConfigOverrides): ConfigureEvent {
  return {
    event: {
      case: "result",
      value: { status, ...(overrides === undefined ? {} : { config: jobConfig(overrides) }) },
    },
  };
}

/** config_exec's answer as the protocol carries it: "" means "no override". */
function jobConfig(o: ConfigOverrides): JobConfigInit {
  return {
    buildsDir: o.buildsDir ?? "",
    cacheDir: o.cacheDir ?? "",
    ...(o.buildsDirIsShared === undefined ? {} : { buildsDirIsShared: o.buildsDirIsShared }),
    hostname: o.hostname ?? "",
    ...(o.driver === undefined
      ? {}
      : { driver: { name: o.driver.name ?? "", version: o.driver.version ?? "" } }),
    jobEnv: o.jobEnv ?? {},
    shell: o.shell ?? "",
  };
}
