/**
 * Exponential backoff with jitter, for a coordinator that is down, slow or answering 5xx: each
 * failure doubles the pause up to a ceiling; a success starts over. The pause is drawn from
 * [delay/2, delay] ("equal jitter"), so a fleet of runners that lost the same coordinator does not
 * come back in lock-step, yet no pause is ever near zero.
 *
 * @example
 *   const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
 *   while (!(await tryOnce())) await sleep(backoff.next(), signal);
 *   backoff.reset();
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Growth per failure; default 2. */
  factor?: number;
  /** For tests: a number in [0, 1). */
  random?: () => number;
}

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

  /** The pause before the next attempt, in ms; counts one more failure. */
  next(): number {
    const ceiling = Math.min(
      this.#options.maxMs,
      this.#options.initialMs * this.#options.factor ** this.#failures,
    );
    this.#failures++;
    return Math.round(ceiling / 2 + (this.#options.random() * ceiling) / 2);
  }

  reset(): void {
    this.#failures = 0;
  }
}

/** Waits `ms`; resolves false at once when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
