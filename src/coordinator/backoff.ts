/**
 * Exponential backoff with jitter, for a coordinator that is down, slow or answering 5xx: each
 * failure doubles the pause up to a ceiling; a success starts over. The pause is drawn from
 * [delay/2, delay] ("equal jitter"), so a fleet of runners that lost the same coordinator does not
 * come back in lock-step, yet no pause is ever near zero. When the coordinator said how long to
 * wait (Retry-After, RateLimit-ResetTime: retry-after.ts), that is the pause instead.
 *
 * The ceilings, each after what GitLab Runner does (docs/daemon.md, "When the coordinator
 * misbehaves"), are below: `jobRequestBackoff` and `FINAL_UPDATE_BACKOFF`. (Trace patches while a
 * job runs are tried again at the update interval; at the end they are part of the final update's
 * tries.)
 *
 * @example
 *   const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
 *   while (!(await tryOnce())) await sleep(backoff.next(), signal);
 *   backoff.reset();
 */
export interface BackoffOptions {
  initialMs: number;
  /** The ceiling; a function when it follows the configuration (check_interval, reloaded). */
  maxMs: number | (() => number);
  /** Growth per failure; default 2. */
  factor?: number;
  /** For tests: a number in [0, 1). */
  random?: () => number;
}

/**
 * Job requests. GitLab Runner retries a 5xx job request within the request (5 attempts, 0.1 s to
 * 1.6 s apart: network/retry_requester.go) and then asks again at the next `check_interval`
 * (commands/multi.go `feedRunners`): its pause between job requests never grows past
 * check_interval. drover's does not either, so the first job is taken within check_interval of
 * GitLab coming back (issue 15: gaps that had grown to 57 s delayed it by ~130 s).
 */
export function jobRequestBackoff(checkIntervalMs: () => number): BackoffOptions {
  return {
    initialMs: 1_000,
    maxMs: () => Math.max(checkIntervalMs(), 1_000),
  };
}

/**
 * The final update's tries (GitLab Runner's `finishWithFinalUpdate`: 1 s doubling, at most
 * `DefaultfinalUpdateBackoffMax` = 60 min, `job_status_final_update_retry_limit` tries).
 */
export const FINAL_UPDATE_BACKOFF: BackoffOptions = { initialMs: 1_000, maxMs: 60 * 60_000 };

export class Backoff {
  readonly #options: Required<BackoffOptions>;
  #failures = 0;

  constructor(options: BackoffOptions) {
    this.#options = { factor: 2, random: Math.random, ...options };
  }

  /** Consecutive failures so far. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * The pause before the next attempt, in ms; counts one more failure. `serverDelayMs` (what the
   * coordinator asked for) is the pause when given: exactly that, no jitter, no ceiling of ours.
   */
  next(serverDelayMs?: number): number {
    const { maxMs, initialMs, factor, random } = this.#options;
    const ceiling = Math.min(
      typeof maxMs === "function" ? maxMs() : maxMs,
      initialMs * factor ** this.#failures,
    );
    this.#failures++;
    if (serverDelayMs !== undefined) return serverDelayMs;
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  }

  reset(): void {
    this.#failures = 0;
  }
}

/** The longest a single timer waits: a longer delay fires after 1 ms (with only a warning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Waits `ms`; resolves false at once when a signal aborts first. Several signals without
 * `AbortSignal.any`, whose combined signal stays registered on a long-lived one (a daemon pauses
 * every few seconds for weeks). A wait longer than a timer can hold (about 24.8 days: a long
 * `unhealthy_interval`) is waited out in steps.
 */
export function sleep(ms: number, signal?: AbortSignal | readonly AbortSignal[]): Promise<boolean> {
  const signals: readonly AbortSignal[] = signal === undefined ? [] : "aborted" in signal ? [signal] : signal;
  return new Promise((resolve) => {
    if (signals.some((s) => s.aborted)) return resolve(false);
    const deadline = Date.now() + ms;
    const finish = (completed: boolean) => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener("abort", onAbort);
      resolve(completed);
    };
    const onAbort = () => finish(false);
    const step = (wait: number): ReturnType<typeof setTimeout> =>
      setTimeout(
        () => {
          const left = deadline - Date.now();
          if (left > 0) timer = step(left);
          else finish(true);
        },
        Math.min(wait, MAX_TIMER_MS),
      );
    let timer = step(ms);
    for (const s of signals) s.addEventListener("abort", onAbort, { once: true });
  });
}
