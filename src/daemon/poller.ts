/**
 * One runner's job requests (GitLab Runner's feed loop for one `[[runners]]` entry): take a place in
 * the concurrency gate, ask the coordinator for a job, hand a job over and ask again at once, or
 * wait `check_interval` when there is none. Nothing the coordinator does ends the loop; only a stop
 * does (docs/daemon.md, "When the coordinator misbehaves"):
 *
 *   5xx, garbled answer   backed off from: exponential with jitter, never longer than
 *                         check_interval (backoff.ts `jobRequestBackoff`), or exactly what
 *                         RateLimit-ResetTime / Retry-After ask for
 *   no answer, 403        the same, and counted against the runner's health: after
 *                         `unhealthy_requests_limit` in a row the runner is unhealthy and asks again
 *                         only after `unhealthy_interval` (health.ts); a reload asks again at once
 */
import type { RunnerConfig } from "../config/model.ts";
import { Backoff, jobRequestBackoff, sleep } from "../coordinator/backoff.ts";
import { CoordinatorHttp, type FailedExchange } from "../coordinator/http.ts";
import { JobRequester, type ReceivedJob } from "../coordinator/request-job.ts";
import type { Logger } from "../log/logger.ts";
import type { DaemonMetrics } from "../metrics/daemon-metrics.ts";
import type { ConcurrencyGate } from "./gate.ts";
import { type HealthChange, type HealthView, RunnerHealth } from "./health.ts";

/** A runner drover can poll for: it has a coordinator URL and a token. */
export type PolledRunner = RunnerConfig & { url: string; token: string };

export function isPolled(runner: RunnerConfig): runner is PolledRunner {
  return Boolean(runner.url) && Boolean(runner.token);
}

/** Identifies a poller across reloads: the same coordinator and token is the same GitLab runner. */
export function pollerKey(runner: PolledRunner): string {
  return `${runner.url}\0${runner.token}`;
}

/**
 * How long a request under way may still take after a stop: enough for an answer GitLab is already
 * sending (a job must not be lost), not for a long poll (GitLab holds a request ~50 s when there is
 * no job; Workhorse has not involved Rails yet, so cutting it loses nothing).
 */
const STOP_GRACE_MS = 2_000;

export interface PollerContext {
  gate: ConcurrencyGate;
  /** `check_interval` of the configuration in effect, in ms. */
  checkIntervalMs: () => number;
  /** Runs the job; `release` gives the gate's place back once its final state is reported. */
  onJob: (job: ReceivedJob, runner: PolledRunner, http: CoordinatorHttp, release: () => void) => void;
  logger: Logger;
  metrics: DaemonMetrics | undefined;
}

export class RunnerPoller {
  readonly key: string;
  readonly #ctx: PollerContext;
  readonly #http: CoordinatorHttp;
  readonly #requester: JobRequester;
  readonly #health: RunnerHealth;
  readonly #stop = new AbortController();
  /** Cuts requests under way, STOP_GRACE_MS after a stop. */
  readonly #cut = new AbortController();
  /** Cuts the current pauses short (a reload asks again at once); replaced after each use. */
  #wake = new AbortController();
  #runner: PolledRunner;
  #logger: Logger;
  #done: Promise<void> = Promise.resolve();

  constructor(runner: PolledRunner, ctx: PollerContext) {
    this.key = pollerKey(runner);
    this.#runner = runner;
    this.#ctx = ctx;
    this.#logger = ctx.logger.child({ runner: runner.name });
    this.#http = new CoordinatorHttp(runner.url, ctx.metrics?.observer(runner.name));
    this.#requester = new JobRequester(this.#http);
    this.#health = new RunnerHealth(() => ({
      requestsLimit: this.#runner.unhealthyRequestsLimit,
      intervalMs: this.#runner.unhealthyIntervalMs,
    }));
  }

  get runner(): PolledRunner {
    return this.#runner;
  }

  /** False while the runner is unhealthy (its job requests refused or unanswered: health.ts). */
  get healthy(): boolean {
    return this.#health.healthy;
  }

  healthView(now = Date.now()): HealthView {
    return this.#health.view(this.#runner.name, now);
  }

  /**
   * The runner's settings from a reloaded config (same url and token). Like GitLab Runner's reload,
   * it checks the runner's health again at once: an unhealthy runner asks for a job now.
   */
  update(runner: PolledRunner): void {
    this.#runner = runner;
    this.#logger = this.#ctx.logger.child({ runner: runner.name });
    if (this.#health.recheck() === "recheck") {
      this.#logger.info(
        "configuration reloaded: asking for a job again at once although the runner is unhealthy",
      );
      this.#wakeUp();
    }
  }

  start(): void {
    const loops = Math.max(1, this.#runner.requestConcurrency);
    this.#done = Promise.all(Array.from({ length: loops }, () => this.#loop())).then(() => {});
  }

  /**
   * Asks no more. A request under way gets STOP_GRACE_MS to be answered (a job in that answer is
   * still handed over), then is cut.
   */
  stop(): void {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    const timer = setTimeout(() => this.#cut.abort(), STOP_GRACE_MS);
    timer.unref?.();
  }

  /** Resolves when every request loop has ended. */
  done(): Promise<void> {
    return this.#done;
  }

  async #loop(): Promise<void> {
    const signal = this.#stop.signal;
    const { gate } = this.#ctx;
    const backoff = new Backoff(jobRequestBackoff(() => this.#ctx.checkIntervalMs()));
    while (!signal.aborted) {
      // An unhealthy runner waits out unhealthy_interval before it asks, without holding a place.
      const { waitMs, change } = this.#health.check(Date.now());
      this.#logHealth(change);
      if (waitMs > 0) {
        await this.#pause(waitMs);
        continue;
      }
      if (!(await gate.acquire(this.#runner.name, () => this.#runner.limit, signal))) return;
      const runner = this.#runner;
      let handedOver = false;
      let pause = 0;
      try {
        const outcome = await this.#requester.request(runner, runner.token, this.#cut.signal);
        switch (outcome.kind) {
          case "job":
            this.#logHealth(this.#health.succeeded());
            backoff.reset();
            this.#logger.info({ jobId: outcome.job.id }, "job received");
            handedOver = true;
            this.#ctx.onJob(outcome.job, runner, this.#http, () => gate.release(runner.name));
            break;
          case "none":
            this.#logHealth(this.#health.succeeded());
            backoff.reset();
            this.#logger.debug("no job");
            pause = this.#ctx.checkIntervalMs();
            break;
          case "forbidden":
            pause = backoff.next();
            this.#logger.error(
              { url: runner.url, requestId: outcome.requestId, retryInMs: pause },
              "the coordinator refused this runner's token (403 Forbidden); check its token in config.toml, or that the runner still exists in GitLab",
            );
            this.#unhealthy("the coordinator refused the runner's token (403 Forbidden)");
            break;
          case "unreachable":
          case "failed":
            if (this.#cut.signal.aborted) {
              this.#logger.debug("request cut short: stopping");
              break;
            }
            pause = this.#failed(outcome, backoff);
            // No answer counts against the runner's health; an answer, even a 5xx, does not:
            // GitLab is there (GitLab Runner's RequestJob says "healthy" for it).
            if (outcome.kind === "unreachable") this.#unhealthy(outcome.problem);
            else this.#logHealth(this.#health.succeeded());
            break;
        }
      } finally {
        if (!handedOver) gate.release(runner.name);
      }
      if (pause > 0) await this.#pause(pause);
    }
  }

  /** A failed request: the pause before the next one (what GitLab asked for, else the backoff's). */
  #failed(failure: FailedExchange, backoff: Backoff): number {
    const pause = backoff.next(failure.retryAfter?.ms);
    this.#ctx.metrics?.coordinatorError(this.#runner.name, "request_job");
    this.#logger.warn(
      {
        url: this.#runner.url,
        problem: failure.problem,
        requestId: failure.requestId,
        failures: backoff.failures,
        retryInMs: pause,
        ...(failure.retryAfter ? { askedBy: failure.retryAfter.header } : {}),
      },
      "asking the coordinator for a job failed; backing off",
    );
    return pause;
  }

  #unhealthy(problem: string): void {
    this.#ctx.metrics?.healthCheckFailed(this.#runner.name);
    this.#logHealth(this.#health.failed(problem, Date.now()), problem);
  }

  #logHealth(change: HealthChange, problem?: string): void {
    const runner = this.#runner;
    switch (change) {
      case "became_unhealthy":
        this.#logger.error(
          {
            url: runner.url,
            problem,
            unhealthyRequestsLimit: runner.unhealthyRequestsLimit,
            unhealthyIntervalSeconds: runner.unhealthyIntervalMs / 1000,
          },
          "runner is unhealthy: its job requests failed too many times in a row; it asks again after unhealthy_interval (or at once on SIGHUP)",
        );
        return;
      case "recheck":
        this.#logger.warn({ url: runner.url }, "runner is unhealthy: asking for a job again");
        return;
      case "recovered":
        this.#logger.info({ url: runner.url }, "runner is healthy again");
        return;
      case undefined:
        return;
    }
  }

  /** Waits `ms`, or less when stopped or woken up (a reload). */
  async #pause(ms: number): Promise<void> {
    await sleep(ms, [this.#stop.signal, this.#wake.signal]);
  }

  #wakeUp(): void {
    this.#wake.abort();
    this.#wake = new AbortController();
  }
}
