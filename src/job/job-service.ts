/**
 * Everything a command needs to run jobs on this host, shared by `drover exec` and `drover run`:
 * the plugin pool, the executor of each runner, the lifecycle plugins, CI_CONCURRENT_ID slots and
 * unique job keys. A command decides where the log goes and when to cancel; this runs the job.
 */

import { killAllChildren, processTag } from "../../kernel/process/child.ts";
import { removeStaleTempDirs } from "../../kernel/process/owned-temp-dirs.ts";
import { sweepTaggedProcesses } from "../../kernel/process/sweep.ts";
import type { Config, RunnerConfig } from "../config/model.ts";
import type { JobLog } from "../log/job-log.ts";
import type { Logger } from "../log/logger.ts";
import type { LaunchedPlugin } from "../plugin/launch.ts";
import { PluginPool } from "../plugin/pool.ts";
import { executorPluginSpec, lifecyclePluginSpecs } from "../plugin/resolve.ts";
import { checkPluginSettings } from "../plugin/settings-schema.ts";
import type { PluginSpec } from "../plugin/spec.ts";
import { type Containment, detectContainment } from "../process/containment.ts";
import { installCrashGuard } from "../process/crash-guard.ts";
import { VERSION } from "../version.ts";
import { executorIdentity } from "./executor-identity.ts";
import type { LifecycleParticipant } from "./lifecycle.ts";
import type { ArtifactsTarget, Job } from "./model.ts";
import type { JobResult } from "./result.ts";
import { runJob } from "./run-job.ts";
import { SlotAllocator } from "./slots.ts";

function artifactsTarget(runner: RunnerConfig, dir: string | undefined): { artifacts?: ArtifactsTarget } {
  if (dir !== undefined) return { artifacts: { kind: "local", dir } };
  return runner.url ? { artifacts: { kind: "coordinator", url: runner.url } } : {};
}

export interface RunOptions {
  log: JobLog;
  /** Graceful cancel; the reason is a StopReason ("canceled", "interrupted", "timeout"). */
  cancel: AbortSignal;
  /** Hard abort. */
  abort: AbortSignal;
}

export class JobService {
  readonly pool: PluginPool;
  readonly #logger: Logger;
  readonly #lifecycle: LifecycleParticipant[];
  readonly #slots = new SlotAllocator();
  readonly #keys = new Set<string>();
  /** Each runner's executor, resolved once (installed plugins: one lock-file read per service). */
  readonly #executors = new Map<string, PluginSpec>();
  readonly #localRepositories: boolean;
  readonly #artifactsDir: string | undefined;
  readonly #containment: Containment;
  readonly #passVariables: readonly string[];

  /**
   * Resolves every plugin the config names now: a bad plugin path is a configuration error before
   * any job. `localRepositories` is what a runner that does not say gets (allow_local_repositories):
   * `drover exec` runs job files its user chose, `drover run` runs what a coordinator sends.
   * `artifactsDir`: where artifacts are kept without a coordinator (`drover exec`); without it, a
   * runner's jobs upload to and download from its `url`.
   */
  constructor(
    config: Config,
    logger: Logger,
    options: { localRepositories: boolean; artifactsDir?: string; env?: Record<string, string | undefined> },
  ) {
    const env = options.env ?? process.env;
    this.#localRepositories = options.localRepositories;
    this.#artifactsDir = options.artifactsDir;
    this.#logger = logger;
    this.#containment = detectContainment(logger);
    this.#passVariables = config.hooks.passVariables;
    logger.info({ containment: this.#containment.description }, "what stops a job's leftover processes");
    installCrashGuard(logger);
    // A drover killed with SIGKILL leaves its private temp dirs (sockets, scripts, job JSON) behind:
    // remove those whose owner is gone, once per service (exec start, daemon start and reload).
    const stale = removeStaleTempDirs();
    if (stale.length) logger.info({ dirs: stale }, "removed temp dirs left behind by a killed drover");
    this.pool = new PluginPool({ logger, handshakeTimeoutMs: config.pluginHandshakeTimeoutMs });
    for (const runner of config.runners) this.#executors.set(runner.name, executorPluginSpec(runner));
    this.#lifecycle = lifecyclePluginSpecs(config.hooks, env).map(({ spec, settingsJson, calls }) => {
      const host = this.pool.host(spec);
      const client = async () => {
        const lifecycle = await host.lifecycle();
        if (spec.trust.kind !== "builtin") {
          const info = await host.start();
          await checkPluginSettings(
            info.name,
            info.settingsSchema,
            JSON.parse(settingsJson),
            "hooks.plugins",
          );
        }
        return lifecycle;
      };
      return { name: spec.name, client, settingsJson, calls };
    });
  }

  /**
   * Hands over `runner`'s executor plugin, launched before this service existed (see
   * PluginHost.adopt): its jobs use that process.
   */
  adoptExecutor(runner: RunnerConfig, spec: PluginSpec, launching: Promise<LaunchedPlugin>): void {
    this.#executors.set(runner.name, spec);
    this.pool.host(spec).adopt(launching);
  }

  async run(job: Job, runner: RunnerConfig, options: RunOptions): Promise<JobResult> {
    const host = this.pool.host(this.#executors.get(runner.name) ?? executorPluginSpec(runner));
    let jobKey = job.id;
    for (let n = 2; this.#keys.has(jobKey); n++) jobKey = `${job.id}-${n}`;
    this.#keys.add(jobKey);
    const concurrentId = this.#slots.take(runner.name);
    const projectScope = `${runner.name}\0${job.projectPath}`;
    const concurrentProjectId = this.#slots.take(projectScope);
    try {
      return await runJob({
        job,
        jobKey,
        runner,
        executor: executorIdentity(runner),
        connect: async () => {
          const client = await host.executor();
          if (runner.executor === "plugin") {
            const info = await host.start();
            await checkPluginSettings(
              info.name,
              info.settingsSchema,
              runner.settings,
              `runners[${JSON.stringify(runner.name)}].plugin`,
            );
          }
          return client;
        },
        log: options.log,
        logger: this.#logger.child({ jobId: job.id, runner: runner.name }),
        cancel: options.cancel,
        abort: options.abort,
        slots: { concurrentId, concurrentProjectId },
        version: VERSION,
        lifecycle: this.#lifecycle,
        allowLocalRepositories: runner.allowLocalRepositories ?? this.#localRepositories,
        ...artifactsTarget(runner, this.#artifactsDir),
        // The shell executor's jobs run here: this very binary. Elsewhere `drover` on the PATH of
        // the job's environment (docs/jobs.md, "Artifacts and caches").
        helper: runner.executor === "shell" ? process.execPath : "drover",
        containment: this.#containment.forJob(),
        hookPassVariables: this.#passVariables,
      });
    } finally {
      this.#slots.release(runner.name, concurrentId);
      this.#slots.release(projectScope, concurrentProjectId);
      this.#keys.delete(jobKey);
    }
  }

  /** SIGKILL every plugin and child now (second Ctrl-C). */
  kill(): void {
    this.pool.kill();
    killAllChildren();
  }

  /** Every exit path: plugins stopped, no child and no tagged process left. */
  async shutdown(): Promise<void> {
    try {
      await this.pool.shutdown();
    } catch (err) {
      this.#logger.warn({ err }, "plugin shutdown failed");
    }
    killAllChildren();
    const swept = sweepTaggedProcesses(processTag());
    if (swept) this.#logger.warn({ processes: swept }, "killed processes left behind");
  }
}
