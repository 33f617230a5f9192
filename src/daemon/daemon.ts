/**
 * `drover run`: the daemon (docs/daemon.md). Owns the configuration in effect, one poller per runner that
 * has a coordinator `url` and `token`, the concurrency gate, the jobs in flight, the metrics endpoint
 * and the signals:
 *
 *   SIGTERM/SIGINT  stop polling, cancel running jobs as runner_interrupted (after_script, cleanup and
 *                   hooks still run), report their final state, stop the plugins, exit 0. Bounded by
 *                   `shutdown_timeout`; a second signal forces the exit at once.
 *   SIGQUIT         stop polling, let running jobs finish and report, exit 0 (a later SIGTERM/SIGINT
 *                   cancels them as above).
 *   SIGHUP          reload config.toml; an invalid new config is logged and the old one kept.
 *
 * A reload builds a new JobService (plugins are resolved from the new config); the old one serves
 * the jobs it started and has its plugins stopped once they are done.
 *
 * Nothing GitLab does ends the daemon: a runner it refuses or cannot reach is unhealthy (health.ts),
 * shown in /healthz and the metrics, and asked again later; final states it does not acknowledge
 * are kept on disk (pending-updates.ts) and reported at the next start or reload (redeliver.ts).
 * The exit status is decided at start (78: nothing to poll) or by a signal (docs/daemon.md).
 */

import { DroverError } from "../../kernel/errors.ts";
import type { LoadResult } from "../config/load.ts";
import type { Config } from "../config/model.ts";
import { formatProblem } from "../config/problems.ts";
import { loadSystemId, withSystemId } from "../config/system-id.ts";
import type { CoordinatorHttp } from "../coordinator/http.ts";
import type { ReceivedJob } from "../coordinator/request-job.ts";
import { JobService } from "../job/job-service.ts";
import type { Logger } from "../log/logger.ts";
import { DaemonMetrics } from "../metrics/daemon-metrics.ts";
import { type MetricsServer, startMetricsServer } from "../metrics/server.ts";
import { runCoordinatorJob } from "./coordinator-job.ts";
import { ConcurrencyGate } from "./gate.ts";
import { healthReport, isServing } from "./health.ts";
import { IdleCollector } from "./idle-gc.ts";
import { PendingUpdates } from "./pending-updates.ts";
import { isPolled, type PolledRunner, pollerKey, RunnerPoller } from "./poller.ts";
import { FinalStateRedelivery } from "./redeliver.ts";
import { type DaemonSignal, trapDaemonSignals } from "./signals.ts";
import { stateDir } from "./state-dir.ts";
import { type TokenChange, TokenRotation, withRotatedToken } from "./token-rotation.ts";

export interface DaemonOptions {
  /** The configuration to start with (already loaded and logged). */
  initial: LoadResult;
  /** Loads config.toml again, from the same place (SIGHUP). Throws DroverError("config_invalid"). */
  reload: () => Promise<LoadResult>;
  logger: Logger;
  /** `--log-level` was given: a reload does not change the level. */
  logLevelFixed: boolean;
  /** For tests and embedding; default: the process's signals. */
  trapSignals?: typeof trapDaemonSignals;
}

type Mode = "running" | "draining" | "interrupting" | "forced";

/** One JobService and the jobs it runs: the current one, or one retired by a reload. */
interface Generation {
  service: JobService;
  active: number;
  retired: boolean;
}

export class Daemon {
  readonly #options: DaemonOptions;
  readonly #logger: Logger;
  #config: Config;
  #generation: Generation;
  readonly #retired = new Set<Generation>();
  readonly #gate: ConcurrencyGate;
  readonly #pollers = new Map<string, RunnerPoller>();
  readonly #jobs = new Set<Promise<unknown>>();
  readonly #metrics: DaemonMetrics;
  #metricsServer: MetricsServer | undefined;
  #mode: Mode = "running";
  readonly #idleGc = new IdleCollector();
  readonly #interrupt = new AbortController();
  readonly #force = new AbortController();
  #reloading: Promise<void> = Promise.resolve();
  #shutdownTimer: ReturnType<typeof setTimeout> | undefined;
  #wake: () => void = () => {};
  /** This host's system ID (`.runner_system_id` beside config.toml), sent with every job request. */
  readonly #systemId: string | undefined;
  /** Resets runner tokens before they expire and writes the new ones back (token-rotation.ts). */
  readonly #tokens: TokenRotation;
  /** Final job states GitLab has not acknowledged, on disk (pending-updates.ts). */
  readonly #pending: PendingUpdates;
  /** Reports those a previous drover kept, at start and on reload (redeliver.ts). */
  readonly #redelivery: FinalStateRedelivery;

  /** Throws DroverError("config_invalid") when no runner can take jobs from a coordinator. */
  constructor(options: DaemonOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#systemId = this.#loadSystemId(options.initial.config.source);
    this.#config = withSystemId(options.initial.config, this.#systemId);
    this.#tokens = new TokenRotation({
      configFile: this.#config.source,
      logger: this.#logger,
      onRotated: (change) => this.#onTokenRotated(change),
    });
    requirePolledRunners(this.#config);
    this.#generation = {
      service: new JobService(this.#config, this.#logger, { localRepositories: false }),
      active: 0,
      retired: false,
    };
    this.#gate = new ConcurrencyGate(this.#config.concurrent);
    this.#metrics = new DaemonMetrics({
      running: () => [...this.#gate.running()].map(([runner, n]) => [{ runner }, n]),
      pluginRestarts: () => this.#pluginRestarts(),
      concurrent: () => this.#config.concurrent,
      runnerHealth: () =>
        [...this.#pollers.values()].map((p) => [{ runner: p.runner.name }, p.healthy ? 1 : 0]),
      pendingFinalUpdates: () => this.#pending.count,
    });
    this.#pending = new PendingUpdates(stateDir(), this.#logger);
    this.#redelivery = new FinalStateRedelivery({
      store: this.#pending,
      runners: () => [...this.#pollers.values()].map((p) => p.runner),
      logger: this.#logger,
      metrics: this.#metrics,
    });
  }

  /** Runs until stopped by a signal; resolves with the exit status (0, or 1 after a forced exit). */
  async run(): Promise<number> {
    const untrap = (this.#options.trapSignals ?? trapDaemonSignals)((kind, signal) =>
      this.#onSignal(kind, signal),
    );
    // A pending promise does not keep the runtime alive: without this, a daemon with nothing
    // scheduled (every runner stopped, as a 403 once did) ended with status 0 while it could not
    // work (issue 15). drover ends only through a signal.
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      if (this.#config.listenAddress !== undefined) await this.#startMetrics(this.#config.listenAddress);
      this.#syncPollers();
      this.#redelivery.run();
      this.#tokens.plan(this.#config);
      this.#logger.info(
        {
          config: this.#config.source,
          runners: [...this.#pollers.values()].map((p) => p.runner.name),
          concurrent: this.#config.concurrent,
          checkInterval: this.#config.checkIntervalSeconds,
          systemId: this.#systemId,
        },
        "drover run: taking jobs",
      );
      await this.#untilStopped();
    } finally {
      untrap();
      clearInterval(keepAlive);
      clearTimeout(this.#shutdownTimer);
      this.#idleGc.dispose();
      // Kept final states still being reported stay on disk for the next start.
      await this.#redelivery.stop();
      // A token reset under way is finished and written back: GitLab has already revoked the old one.
      await this.#tokens.stop();
      await this.#metricsServer?.close();
      await this.#shutdownServices();
    }
    if (this.#mode === "forced") return 1;
    this.#logger.info("drover run: stopped");
    return 0;
  }

  // ---- signals --------------------------------------------------------------------------------

  #onSignal(kind: DaemonSignal, signal: NodeJS.Signals): void {
    if (kind === "reload") {
      this.#reloading = this.#reloading.then(() => this.#reload());
      return;
    }
    const mode = this.#mode;
    if (mode === "running" && kind === "drain") {
      this.#logger.info({ signal, running: this.#jobs.size }, "stopping: no new jobs; running jobs finish");
      this.#mode = "draining";
      this.#stopPolling();
    } else if ((mode === "running" || mode === "draining") && kind === "stop") {
      this.#logger.info(
        { signal, running: this.#jobs.size, shutdownTimeout: this.#config.shutdownTimeoutSeconds },
        "stopping: canceling running jobs (runner_interrupted); a second signal forces the exit",
      );
      this.#mode = "interrupting";
      this.#stopPolling();
      this.#interrupt.abort();
      this.#shutdownTimer = setTimeout(() => {
        this.#logger.error(
          { shutdownTimeout: this.#config.shutdownTimeoutSeconds, running: this.#jobs.size },
          "shutdown_timeout reached: forcing the exit",
        );
        this.#forceExit();
      }, this.#config.shutdownTimeoutSeconds * 1000);
    } else if (mode !== "forced") {
      this.#logger.warn({ signal, running: this.#jobs.size }, "second signal: forcing the exit");
      this.#forceExit();
    }
    this.#wake();
  }

  #forceExit(): void {
    this.#mode = "forced";
    this.#stopPolling();
    this.#force.abort();
    for (const generation of [this.#generation, ...this.#retired]) generation.service.kill();
    this.#wake();
  }

  get #forced(): boolean {
    return this.#mode === "forced";
  }

  #stopPolling(): void {
    for (const poller of this.#pollers.values()) poller.stop();
  }

  /** Resolves once stopping is complete: polling over and every job reported, or a forced exit. */
  async #untilStopped(): Promise<void> {
    for (;;) {
      if (this.#mode === "forced") return;
      if (this.#mode !== "running") {
        await Promise.all([...this.#pollers.values()].map((p) => p.done()));
        // A forced exit may have come while waiting.
        if (this.#forced) return;
        if (this.#jobs.size === 0) return;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  // ---- jobs -----------------------------------------------------------------------------------

  #onJob(received: ReceivedJob, runner: PolledRunner, http: CoordinatorHttp, release: () => void): void {
    const generation = this.#generation;
    generation.active++;
    this.#idleGc.busy();
    const job = runCoordinatorJob({
      received,
      runner,
      http,
      service: generation.service,
      logger: this.#logger,
      metrics: this.#metrics,
      interrupt: this.#interrupt.signal,
      force: this.#force.signal,
      journal: this.#pending,
    })
      .catch((err: unknown) => this.#logger.error({ err, jobId: received.id }, "job handling failed"))
      .finally(() => {
        release();
        generation.active--;
        this.#jobs.delete(job);
        if (this.#jobs.size === 0) this.#idleGc.idle();
        if (generation.retired && generation.active === 0) void this.#retire(generation);
        this.#wake();
      });
    this.#jobs.add(job);
  }

  // ---- configuration --------------------------------------------------------------------------

  /** Pollers for the runners of the configuration in effect: new ones started, gone ones stopped. */
  #syncPollers(): void {
    const wanted = new Map<string, PolledRunner>();
    for (const runner of this.#config.runners) {
      if (isPolled(runner)) wanted.set(pollerKey(runner), runner);
      else
        this.#logger.warn({ runner: runner.name }, "runner has no url or token: drover run does not poll it");
    }
    for (const [key, poller] of this.#pollers) {
      if (wanted.has(key)) continue;
      poller.stop();
      this.#pollers.delete(key);
    }
    for (const [key, runner] of wanted) {
      const existing = this.#pollers.get(key);
      if (existing) {
        existing.update(runner);
        continue;
      }
      const poller = new RunnerPoller(runner, {
        gate: this.#gate,
        checkIntervalMs: () => this.#config.checkIntervalSeconds * 1000,
        onJob: (job, r, http, release) => this.#onJob(job, r, http, release),
        logger: this.#logger,
        metrics: this.#metrics,
      });
      this.#pollers.set(key, poller);
      poller.start();
    }
  }

  async #reload(): Promise<void> {
    if (this.#mode !== "running") {
      this.#logger.info("SIGHUP ignored: drover is stopping");
      return;
    }
    let loaded: LoadResult;
    let service: JobService;
    try {
      loaded = await this.#options.reload();
      requirePolledRunners(loaded.config);
      service = new JobService(loaded.config, this.#logger, { localRepositories: false });
    } catch (err) {
      const error = DroverError.from(err);
      this.#logger.error(
        { err: error, problems: error.details.problems },
        "configuration reload failed: keeping the current configuration",
      );
      return;
    }
    if (this.#mode !== "running") {
      await service.pool.shutdown();
      return;
    }
    for (const warning of loaded.warnings)
      this.#logger.warn({ problem: formatProblem(warning) }, "configuration warning");
    const previous = this.#config;
    // Tokens rotated since the file was last written keep their new value (token-rotation.ts).
    this.#config = this.#tokens.current(withSystemId(loaded.config, this.#systemId));
    const old = this.#generation;
    old.retired = true;
    this.#retired.add(old);
    this.#generation = { service, active: 0, retired: false };
    if (old.active === 0) void this.#retire(old);
    if (!this.#options.logLevelFixed && loaded.config.logLevel !== undefined)
      this.#logger.level = loaded.config.logLevel;
    this.#gate.setConcurrent(loaded.config.concurrent);
    // Existing pollers check their runner's health again at once (poller.ts `update`).
    this.#syncPollers();
    this.#redelivery.run();
    this.#tokens.plan(this.#config);
    if (loaded.config.listenAddress !== previous.listenAddress) {
      await this.#metricsServer?.close();
      this.#metricsServer = undefined;
      if (loaded.config.listenAddress !== undefined) await this.#startMetrics(loaded.config.listenAddress);
    }
    this.#logger.info(
      {
        config: loaded.config.source,
        runners: [...this.#pollers.values()].map((p) => p.runner.name),
        concurrent: loaded.config.concurrent,
      },
      "configuration reloaded",
    );
  }

  /**
   * GitLab gave a runner a new token (the old one no longer works): the configuration in effect
   * takes it at once, so the runner's next job request uses it (a new poller: url and token
   * identify a poller), and its next reset is planned from the new expiry.
   */
  #onTokenRotated(change: TokenChange): void {
    this.#config = withRotatedToken(this.#config, change);
    if (this.#mode !== "running") return;
    this.#syncPollers();
    this.#tokens.plan(this.#config);
  }

  /** The system ID beside the config file; none for the built-in configuration (no file). */
  #loadSystemId(configFile: string | undefined): string | undefined {
    if (configFile === undefined) return undefined;
    const { systemId, warning } = loadSystemId(configFile);
    if (warning !== undefined) this.#logger.warn({ systemId }, warning);
    return systemId;
  }

  /** A retired JobService whose jobs are all done: its plugin processes are stopped. */
  async #retire(generation: Generation): Promise<void> {
    if (!this.#retired.delete(generation)) return;
    try {
      await generation.service.pool.shutdown();
    } catch (err) {
      this.#logger.warn({ err }, "stopping the previous configuration's plugins failed");
    }
  }

  async #shutdownServices(): Promise<void> {
    await Promise.all([...this.#retired].map((g) => this.#retire(g)));
    // Last: the current service's shutdown also sweeps every process drover started.
    await this.#generation.service.shutdown();
  }

  // ---- metrics --------------------------------------------------------------------------------

  async #startMetrics(listenAddress: string): Promise<void> {
    try {
      this.#metricsServer = await startMetricsServer({
        listenAddress,
        render: () => this.#metrics.registry.render(),
        health: () => {
          const now = Date.now();
          const views = [...this.#pollers.values()].map((p) => p.healthView(now));
          const report = healthReport(this.#mode !== "running", views);
          return { serving: isServing(report), report };
        },
      });
      this.#logger.info({ address: this.#metricsServer.address }, "metrics server listening");
    } catch (err) {
      this.#logger.error({ err, listenAddress }, "cannot start the metrics server");
    }
  }

  *#pluginRestarts(): Iterable<[{ plugin: string }, number]> {
    const totals = new Map<string, number>();
    for (const generation of [this.#generation, ...this.#retired])
      for (const host of generation.service.pool.hosts)
        totals.set(host.spec.name, (totals.get(host.spec.name) ?? 0) + host.restarts);
    for (const [plugin, restarts] of totals) yield [{ plugin }, restarts];
  }
}

/** `drover run` needs at least one runner that can ask a coordinator for jobs. */
function requirePolledRunners(config: Config): void {
  if (config.runners.some(isPolled)) return;
  throw new DroverError(
    "config_invalid",
    `no runner in ${config.source ?? "the built-in configuration"} has both url and token: drover run takes jobs from a GitLab coordinator (see docs/daemon.md)`,
    config.source === undefined ? {} : { file: config.source },
  );
}
