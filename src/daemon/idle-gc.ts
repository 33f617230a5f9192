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

export class IdleCollector {
  readonly #collect: () => void;
  readonly #delayMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: { collect?: () => void; delayMs?: number } = {}) {
    this.#collect = options.collect ?? (() => Bun.gc(true));
    this.#delayMs = options.delayMs ?? IDLE_GC_DELAY_MS;
  }

  /** A job started: the runner is not idle. */
  busy(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The last running job ended: collect once the runner has stayed idle for the delay. */
  idle(): void {
    this.busy();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#collect();
    }, this.#delayMs);
    this.#timer.unref();
  }

  dispose(): void {
    this.busy();
  }
}
