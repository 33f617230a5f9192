/**
 * What `drover run` exposes on `listen_address` (docs/daemon.md): jobs by runner and state, how long
 * jobs and their stages take, plugin restarts, the coordinator's answers and errors, each runner's
 * health and the final states not acknowledged yet. Names follow Prometheus conventions (`_total`
 * counters, `_seconds` durations).
 */
import type { Endpoint, ExchangeObserver } from "../coordinator/http.ts";
import type { JobResult } from "../job/result.ts";
import { VERSION } from "../version.ts";
import { type Counter, type Histogram, Registry } from "./registry.ts";

/** Seconds; from a trivial stage to a long build. */
const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600];

export interface MetricSources {
  /** Jobs running now, per runner. */
  running(): Iterable<[{ runner: string }, number]>;
  /** Restarts of every plugin process since drover started, per plugin. */
  pluginRestarts(): Iterable<[{ plugin: string }, number]>;
  /** `concurrent` of the configuration in effect. */
  concurrent(): number;
  /** 1 for a healthy runner, 0 for an unhealthy one (src/daemon/health.ts). */
  runnerHealth(): Iterable<[{ runner: string }, number]>;
  /** Final job states kept on disk that the coordinator has not acknowledged yet. */
  pendingFinalUpdates(): number;
}

export class DaemonMetrics {
  readonly registry = new Registry();
  readonly #jobs: Counter<"runner" | "state">;
  readonly #failures: Counter<"runner" | "reason">;
  readonly #jobDuration: Histogram<"runner">;
  readonly #stageDuration: Histogram<"runner" | "stage">;
  readonly #requests: Counter<"runner" | "endpoint" | "status">;
  readonly #errors: Counter<"runner" | "endpoint">;
  readonly #healthFailures: Counter<"runner">;

  constructor(sources: MetricSources) {
    const r = this.registry;
    r.gauge("drover_version_info", "drover's version.", ["version"], () => [[{ version: VERSION }, 1]]);
    r.gauge("drover_concurrent", "Jobs allowed at once, all runners together (concurrent).", [], () => [
      [{}, sources.concurrent()],
    ]);
    r.gauge("drover_jobs_running", "Jobs running now.", ["runner"], () => sources.running());
    this.#jobs = r.counter("drover_jobs_total", "Jobs finished, by runner and final state.", [
      "runner",
      "state",
    ]);
    this.#failures = r.counter(
      "drover_job_failures_total",
      "Jobs that did not succeed, by GitLab failure reason.",
      ["runner", "reason"],
    );
    this.#jobDuration = r.histogram(
      "drover_job_duration_seconds",
      "How long jobs took, from start to result.",
      ["runner"],
      DURATION_BUCKETS,
    );
    this.#stageDuration = r.histogram(
      "drover_job_stage_duration_seconds",
      "How long each job stage took.",
      ["runner", "stage"],
      DURATION_BUCKETS,
    );
    r.collectedCounter(
      "drover_plugin_restarts_total",
      "Plugin processes restarted after they died.",
      ["plugin"],
      () => sources.pluginRestarts(),
    );
    this.#requests = r.counter(
      "drover_coordinator_requests_total",
      "Requests to the coordinator, by endpoint and HTTP status (error: no answer).",
      ["runner", "endpoint", "status"],
    );
    this.#errors = r.counter(
      "drover_coordinator_errors_total",
      "Failed exchanges with the coordinator (down, 5xx, unusable answer), each one backed off from.",
      ["runner", "endpoint"],
    );
    r.gauge(
      "drover_runner_healthy",
      "1 while the runner is healthy; 0 while its job requests are refused (403) or unanswered, unhealthy_requests_limit times in a row.",
      ["runner"],
      () => sources.runnerHealth(),
    );
    // GitLab Runner's gitlab_runner_worker_health_check_failures_total.
    this.#healthFailures = r.counter(
      "drover_runner_health_check_failures_total",
      "Job requests that counted against the runner's health: refused (403) or unanswered.",
      ["runner"],
    );
    r.gauge(
      "drover_final_updates_pending",
      "Final job states kept on disk that the coordinator has not acknowledged yet.",
      [],
      () => [[{}, sources.pendingFinalUpdates()]],
    );
  }

  /** Counts every answer of the coordinator for `runner`. */
  observer(runner: string): ExchangeObserver {
    return {
      exchanged: (endpoint, outcome) =>
        this.#requests.inc({ runner, endpoint, status: outcome === "error" ? "error" : String(outcome) }),
    };
  }

  coordinatorError(runner: string, endpoint: Endpoint): void {
    this.#errors.inc({ runner, endpoint });
  }

  /** A job request refused (403) or unanswered. */
  healthCheckFailed(runner: string): void {
    this.#healthFailures.inc({ runner });
  }

  jobFinished(runner: string, result: JobResult): void {
    this.#jobs.inc({ runner, state: result.status });
    if (result.status !== "success") this.#failures.inc({ runner, reason: result.reason });
    this.#jobDuration.observe({ runner }, result.durationMs / 1000);
    for (const stage of result.stages) {
      if (stage.outcome === "skipped") continue;
      this.#stageDuration.observe({ runner, stage: stage.name }, stage.durationMs / 1000);
    }
  }
}
