/**
 * The pauses drover takes when the coordinator fails (src/coordinator/backoff.ts): the job request
 * ceiling follows check_interval as GitLab Runner's feed loop does, what the coordinator asks for
 * replaces the computed pause, and the final update grows from 1 s as GitLab Runner's retry does.
 */
import { describe, expect, test } from "bun:test";
import { Backoff, FINAL_UPDATE_BACKOFF, jobRequestBackoff, sleep } from "../../src/coordinator/backoff.ts";

/** The top of the jitter range: the pause is the ceiling itself. */
const highest = () => 1 - Number.EPSILON;

function pauses(backoff: Backoff, n: number): number[] {
  return Array.from({ length: n }, () => backoff.next());
}

describe("ceilings", () => {
  test("job requests: 1 s doubling, never above check_interval (3 s by default)", () => {
    const backoff = new Backoff({ ...jobRequestBackoff(() => 3_000), random: highest });
    expect(pauses(backoff, 8)).toEqual([1_000, 2_000, 3_000, 3_000, 3_000, 3_000, 3_000, 3_000]);
  });

  test("job requests: the ceiling follows a reloaded check_interval; never below 1 s", () => {
    let checkIntervalMs = 30_000;
    const backoff = new Backoff({ ...jobRequestBackoff(() => checkIntervalMs), random: highest });
    expect(pauses(backoff, 6)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000]);
    checkIntervalMs = 2_000;
    expect(backoff.next()).toBe(2_000);
    checkIntervalMs = 100;
    expect(backoff.next()).toBe(1_000);
  });

  test("the final update: 1 s doubling up to 60 minutes, as GitLab Runner's finishWithFinalUpdate", () => {
    const backoff = new Backoff({ ...FINAL_UPDATE_BACKOFF, random: highest });
    expect(pauses(backoff, 10)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512].map((s) => s * 1000));
    expect(pauses(backoff, 4).at(-1)).toBe(3_600_000);
  });

  test("what the coordinator asked for is the pause, exactly; the failure still counts", () => {
    const backoff = new Backoff({ ...jobRequestBackoff(() => 3_000), random: highest });
    expect(backoff.next(45_000)).toBe(45_000);
    expect(backoff.failures).toBe(1);
    expect(backoff.next()).toBe(2_000);
    backoff.reset();
    expect(backoff.next()).toBe(1_000);
  });
});

describe("sleep", () => {
  test("ends early, false, when any of its signals aborts, and leaves no listener behind", async () => {
    const stop = new AbortController();
    const wake = new AbortController();
    let added = 0;
    let removed = 0;
    for (const signal of [stop.signal, wake.signal]) {
      const add = signal.addEventListener.bind(signal);
      const remove = signal.removeEventListener.bind(signal);
      signal.addEventListener = ((...args: Parameters<typeof add>) => {
        added++;
        add(...args);
      }) as typeof signal.addEventListener;
      signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
        removed++;
        remove(...args);
      }) as typeof signal.removeEventListener;
    }
    const sleeping = sleep(60_000, [stop.signal, wake.signal]);
    wake.abort();
    expect(await sleeping).toBe(false);
    expect(await sleep(1, [stop.signal])).toBe(true);
    expect([added, removed]).toEqual([3, 3]);
    stop.abort();
    expect(await sleep(60_000, stop.signal)).toBe(false);
  });

  test("a wait longer than a timer holds (unhealthy_interval = 720h) still waits, not 1 ms", async () => {
    const stop = new AbortController();
    let settled = false;
    const sleeping = sleep(720 * 3600 * 1000, stop.signal).then((completed) => {
      settled = true;
      return completed;
    });
    await Bun.sleep(50);
    expect(settled).toBe(false);
    stop.abort();
    expect(await sleeping).toBe(false);
  });
});
