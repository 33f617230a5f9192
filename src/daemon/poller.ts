/**
 * One runner's job requests (GitLab Runner's feed loop for one `[[runners]]` entry): take a place in
 * the concurrency gate, ask the coordinator for a job, hand a job over and ask again at once, or
 * wait `check_interval` when there is none. A coordinator that is down or answering 5xx or garbage
 * is backed off from (exponential, with jitter) and logged, never fatal. A 403 means the token is
 * not valid: this runner stops asking, the others go on.
 */
import type { RunnerConfig } from "../config/model.ts";
import { Backoff, sleep } from "../coordinator/backoff.ts";
import { CoordinatorHttp } from "../coordinator/http.ts";
import { JobRequester, type ReceivedJob } from "../coordinator/request-job.ts";
import type { Logger } from "../log/logger.ts";
import type { DaemonMetrics } from "../metrics/daemon-metrics.ts";
import type { ConcurrencyGate } from "./gate.ts";

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
  readonly #stop = new AbortController();
  /** Cuts requests under way, STOP_GRACE_MS after a stop. */
  readonly #cut = new AbortController();
  #runner: PolledRunner;
  #logger: Logger;
  #done: Promise<void> = Promise.resolve();
  #forbidden = false;

  constructor(runner: PolledRunner, ctx: PollerContext) {
    this.key = pollerKey(runner);
    this.#runner = runner;
    this.#ctx = ctx;
    this.#logger = ctx.logger.child({ runner: runner.name });
    this.#http = new CoordinatorHttp(runner.url, ctx.metrics?.observer(runner.name));
    this.#requester = new JobRequester(this.#http);
  }

  get runner(): PolledRunner {
    return this.#runner;
  }

  /** True once the coordinator refused the token (403): the runner asks no more. */
  get forbidden(): boolean {
    return this.#forbidden;
  }

  /** The runner's settings from a reloaded config (same url and token). */
  update(runner: PolledRunner): void {
    this.#runner = runner;
    this.#logger = this.#ctx.logger.child({ runner: runner.name });
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
    const backoff = new Backoff({ initialMs: 1_000, maxMs: 60_000 });
    while (!signal.aborted) {
      if (!(await gate.acquire(this.#runner.name, () => this.#runner.limit, signal))) return;
      const runner = this.#runner;
      let handedOver = false;
      let pause = 0;
      try {
        const outcome = await this.#requester.request(runner, runner.token, this.#cut.signal);
        switch (outcome.kind) {
          case "job":
            backoff.reset();
            this.#logger.info({ jobId: outcome.job.id }, "job received");
            handedOver = true;
            this.#ctx.onJob(outcome.job, runner, this.#http, () => gate.release(runner.name));
            break;
          case "none":
            backoff.reset();
            this.#logger.debug("no job");
            pause = this.#ctx.checkIntervalMs();
            break;
          case "forbidden":
            this.#forbidden = true;
            this.#logger.error(
              { url: runner.url },
              "the coordinator refused this runner's token (403 Forbidden): this runner stops asking for jobs; check its token in config.toml",
            );
            this.#ctx.metrics?.runnerStopped(runner.name);
            this.#stop.abort();
            break;
          case "failed":
            if (this.#cut.signal.aborted) {
              this.#logger.debug("request cut short: stopping");
              break;
            }
            pause = backoff.next();
            this.#ctx.metrics?.coordinatorError(runner.name, "request_job");
            this.#logger.warn(
              { url: runner.url, problem: outcome.problem, failures: backoff.failures, retryInMs: pause },
              "asking the coordinator for a job failed; backing off",
            );
            break;
        }
      } finally {
        if (!handedOver) gate.release(runner.name);
      }
      if (pause > 0) await sleep(pause, signal);
    }
  }
}
