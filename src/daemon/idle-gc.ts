/**
 * A daemon that has just finished its last running job collects its garbage once, a moment later.
 *
 * Left alone, the garbage collector of drover's runtime lets the heap of a daemon that runs batches
 * of jobs grow by a few MiB per batch and gives it back only every few hundred jobs (scripts/bench
 * g: 84 MiB after 32 jobs, 123 MiB after 352, 97 MiB after 384). An administrator reads a resident
 * size that climbs for an hour as a leak. One full collection when the runner goes idle costs a
 * few milliseconds of CPU at a moment when nothing waits for it, and keeps the resident size at
 * what the jobs in flight need (docs/performance.md, "memory").
 */

/** How long the runner must stay idle before the collection (a job arriving right away cancels it). */
export const IDLE_GC_DELAY_MS = 200;

/**
 * The timer functions the collector uses: the global ones unless a test passes a fake clock
 * (test/unit/idle-gc.test.ts). A handle is whatever `setTimeout` returns, given back to `clearTimeout`.
 */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The global timers, unref'd: a pending collection never keeps the process alive. */
const GLOBAL_TIMERS: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class IdleCollector {
  readonly #collect: () => void;
  readonly #delayMs: number;
  readonly #timers: Timers;
  #timer: unknown;

  constructor(options: { collect?: () => void; delayMs?: number; timers?: Timers } = {}) {
    this.#collect = options.collect ?? (() => Bun.gc(true));
    this.#delayMs = options.delayMs ?? IDLE_GC_DELAY_MS;
    this.#timers = options.timers ?? GLOBAL_TIMERS;
  }

  /** A job started: the runner is not idle. */
  busy(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The last running job ended: collect once the runner has stayed idle for the delay. */
  idle(): void {
    this.busy();
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      this.#collect();
    }, this.#delayMs);
  }

  dispose(): void {
    this.busy();
  }
}
