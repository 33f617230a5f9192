/**
 * CI_CONCURRENT_ID and CI_CONCURRENT_PROJECT_ID: the smallest number not in use by another running
 * job of the same runner (of the same project, for the second), as GitLab Runner hands them out.
 */
export class SlotAllocator {
  #used = new Map<string, Set<number>>();

  /** Takes the smallest free slot in `scope`; give it back with `release`. */
  take(scope: string): number {
    let used = this.#used.get(scope);
    if (!used) {
      used = new Set();
      this.#used.set(scope, used);
    }
    let slot = 0;
    while (used.has(slot)) slot++;
    used.add(slot);
    return slot;
  }

  release(scope: string, slot: number): void {
    this.#used.get(scope)?.delete(slot);
  }
}
