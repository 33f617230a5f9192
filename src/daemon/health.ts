/**
 * A runner's health, as GitLab Runner keeps it (commands/health_helper.go, commands/multi.go): a
 * runner whose job requests fail `unhealthy_requests_limit` times in a row (default 3) is
 * unhealthy and asks no more until `unhealthy_interval` has passed; then it asks again, with the
 * same number of tries. Any usable answer makes it healthy at once. A configuration reload
 * (SIGHUP) checks again at once, as GitLab Runner's reload clears its health table.
 *
 * What counts as a failure is GitLab Runner's (network/gitlab.go `RequestJob`'s "healthy" result):
 * a 403 (GitLab does not know the token) and no answer at all (connection refused, DNS, timeout).
 * A 5xx or a garbled answer does not: GitLab is there and saw the request; those are backed off
 * from (poller.ts) without idling the runner, so that it takes a job within check_interval of
 * GitLab coming back.
 *
 * An unhealthy runner never ends: drover keeps running, reports it in /healthz and the metrics,
 * and takes jobs again once GitLab accepts the runner (docs/daemon.md, "Metrics and health").
 *
 *   healthy(failures)  ──failure, failures reach the limit──▶  waiting(until)
 *   waiting(until)     ──the interval has passed, or reload──▶ rechecking(0 failures)
 *   rechecking         ──failure, failures reach the limit──▶  waiting(until)
 *   any                ──usable answer──▶                      healthy(0)
 */

export interface HealthSettings {
  /** `unhealthy_requests_limit`: failures in a row that make the runner unhealthy. */
  requestsLimit: number;
  /** `unhealthy_interval`: how long an unhealthy runner waits before asking again. */
  intervalMs: number;
}

type State =
  | { kind: "healthy"; failures: number }
  /** Unhealthy, not asking until `until` (ms since the epoch). */
  | { kind: "waiting"; since: number; until: number }
  /** Unhealthy, asking again: `failures` in a row since the recheck began. */
  | { kind: "rechecking"; since: number; failures: number };

/** What happened, for the log. */
export type HealthChange = "became_unhealthy" | "recovered" | "recheck" | undefined;

/** A runner's health as /healthz shows it. */
export interface HealthView {
  runner: string;
  healthy: boolean;
  /** Job requests that failed in a row (in the current recheck, when unhealthy). */
  failures: number;
  /** Unhealthy since (ISO 8601). */
  since?: string;
  /** Why the last failed request failed. */
  lastProblem?: string;
  /** Unhealthy and waiting: seconds until it asks again. */
  nextCheckInSeconds?: number;
}

export class RunnerHealth {
  readonly #settings: () => HealthSettings;
  #state: State = { kind: "healthy", failures: 0 };
  #lastProblem: string | undefined;

  /** `settings` is read at each use: a reload may change them. */
  constructor(settings: () => HealthSettings) {
    this.#settings = settings;
  }

  get healthy(): boolean {
    return this.#state.kind === "healthy";
  }

  /**
   * How long to wait before the next job request may be made: 0 to ask now. Once the interval of
   * an unhealthy runner has passed, a recheck begins (the change says so).
   */
  check(now: number): { waitMs: number; change: HealthChange } {
    const state = this.#state;
    if (state.kind !== "waiting") return { waitMs: 0, change: undefined };
    if (now < state.until) return { waitMs: state.until - now, change: undefined };
    this.#state = { kind: "rechecking", since: state.since, failures: 0 };
    return { waitMs: 0, change: "recheck" };
  }

  /** A usable answer (a job, no job, or an answer that was not a refusal). */
  succeeded(): HealthChange {
    const wasHealthy = this.healthy;
    this.#state = { kind: "healthy", failures: 0 };
    this.#lastProblem = undefined;
    return wasHealthy ? undefined : "recovered";
  }

  /** A failed job request (403, or no answer). */
  failed(problem: string, now: number): HealthChange {
    this.#lastProblem = problem;
    const { requestsLimit, intervalMs } = this.#settings();
    const state = this.#state;
    if (state.kind !== "waiting" && state.failures + 1 < requestsLimit) {
      this.#state = { ...state, failures: state.failures + 1 };
      return undefined;
    }
    // The limit is reached (or, with request_concurrency > 1, another request failed while
    // waiting): wait the whole interval from now.
    const since = state.kind === "healthy" ? now : state.since;
    this.#state = { kind: "waiting", since, until: now + intervalMs };
    return state.kind === "healthy" ? "became_unhealthy" : undefined;
  }

  /** A configuration reload: an unhealthy runner asks again at once. */
  recheck(): HealthChange {
    const state = this.#state;
    if (state.kind === "healthy") {
      this.#state = { kind: "healthy", failures: 0 };
      return undefined;
    }
    this.#state = { kind: "rechecking", since: state.since, failures: 0 };
    return "recheck";
  }

  view(runner: string, now: number): HealthView {
    const state = this.#state;
    const view: HealthView = {
      runner,
      healthy: state.kind === "healthy",
      failures: state.kind === "waiting" ? this.#settings().requestsLimit : state.failures,
    };
    if (state.kind !== "healthy") view.since = new Date(state.since).toISOString();
    if (this.#lastProblem !== undefined) view.lastProblem = this.#lastProblem;
    if (state.kind === "waiting")
      view.nextCheckInSeconds = Math.max(0, Math.ceil((state.until - now) / 1000));
    return view;
  }
}

/**
 * What /healthz answers: `ok` (200) while every runner is healthy, `degraded` (200) while some
 * are, `unhealthy` (503) when none is (drover cannot take a job), `stopping` (503) after a stop
 * signal.
 */
export interface HealthReport {
  status: "ok" | "degraded" | "unhealthy" | "stopping";
  runners: HealthView[];
}

/** Whether /healthz answers 200: drover can take a job. */
export function isServing(report: HealthReport): boolean {
  return report.status === "ok" || report.status === "degraded";
}

export function healthReport(stopping: boolean, runners: HealthView[]): HealthReport {
  const healthy = runners.filter((r) => r.healthy).length;
  const status = stopping
    ? "stopping"
    : healthy === runners.length
      ? "ok"
      : healthy > 0
        ? "degraded"
        : "unhealthy";
  return { status, runners };
}
