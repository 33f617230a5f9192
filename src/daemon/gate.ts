/**
 * How many jobs may run at once: `concurrent` for all runners together, `limit` per runner (0 = no
 * limit of its own). A runner takes a place *before* it asks the coordinator for a job, and keeps it
 * until the job's final state is reported, as GitLab Runner does: drover never holds a job it has no
 * room to run.
 */
export class ConcurrencyGate {
  #concurrent: number;
  #total = 0;
  readonly #perRunner = new Map<string, number>();
  readonly #waiters = new Set<() => void>();

  constructor(concurrent: number) {
    this.#concurrent = concurrent;
  }

  /** A new `concurrent` (configuration reload): jobs above it finish, no new one starts until below. */
  setConcurrent(concurrent: number): void {
    this.#concurrent = concurrent;
    this.#wake();
  }

  get concurrent(): number {
    return this.#concurrent;
  }

  get total(): number {
    return this.#total;
  }

  /** Places taken now, per runner name. */
  running(): Map<string, number> {
    return new Map(this.#perRunner);
  }

  tryAcquire(runner: string, limit: number): boolean {
    const mine = this.#perRunner.get(runner) ?? 0;
    if (this.#total >= this.#concurrent || (limit > 0 && mine >= limit)) return false;
    this.#total++;
    this.#perRunner.set(runner, mine + 1);
    return true;
  }

  /**
   * Waits for a place (`limit` is read at each try: it may change with a reload). False when `signal`
   * aborts first.
   */
  async acquire(runner: string, limit: () => number, signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      if (this.tryAcquire(runner, limit())) return true;
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#waiters.delete(done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        this.#waiters.add(done);
        signal.addEventListener("abort", done, { once: true });
      });
    }
    return false;
  }

  release(runner: string): void {
    const mine = this.#perRunner.get(runner) ?? 0;
    if (mine <= 1) this.#perRunner.delete(runner);
    else this.#perRunner.set(runner, mine - 1);
    this.#total = Math.max(0, this.#total - 1);
    this.#wake();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
