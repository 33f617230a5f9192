/**
 * A runner's health (src/daemon/health.ts), GitLab Runner's model: unhealthy after
 * unhealthy_requests_limit failures in a row, asked again after unhealthy_interval with as many
 * tries, healthy at the first usable answer, rechecked at once on a reload.
 */
import { describe, expect, test } from "bun:test";
import { healthReport, isServing, RunnerHealth } from "../../src/daemon/health.ts";

const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);

function health(requestsLimit = 3, intervalMs = 60_000): RunnerHealth {
  return new RunnerHealth(() => ({ requestsLimit, intervalMs }));
}

describe("RunnerHealth", () => {
  test("healthy until the limit of failures in a row; then it waits the interval", () => {
    const h = health();
    expect(h.failed("403", T0)).toBeUndefined();
    expect(h.failed("403", T0 + 1_000)).toBeUndefined();
    expect(h.healthy).toBe(true);
    expect(h.check(T0 + 1_500)).toEqual({ waitMs: 0, change: undefined });
    expect(h.failed("403", T0 + 2_000)).toBe("became_unhealthy");
    expect(h.healthy).toBe(false);
    expect(h.check(T0 + 2_000)).toEqual({ waitMs: 60_000, change: undefined });
    expect(h.check(T0 + 32_000)).toEqual({ waitMs: 30_000, change: undefined });
    expect(h.view("r", T0 + 32_000)).toEqual({
      runner: "r",
      healthy: false,
      failures: 3,
      since: new Date(T0 + 2_000).toISOString(),
      lastProblem: "403",
      nextCheckInSeconds: 30,
    });
  });

  test("a usable answer in between starts the count over", () => {
    const h = health();
    h.failed("down", T0);
    h.failed("down", T0);
    expect(h.succeeded()).toBeUndefined();
    h.failed("down", T0);
    h.failed("down", T0);
    expect(h.healthy).toBe(true);
    expect(h.view("r", T0)).toEqual({ runner: "r", healthy: true, failures: 2, lastProblem: "down" });
  });

  test("after the interval it asks again with the same number of tries; success makes it healthy", () => {
    const h = health(2, 10_000);
    h.failed("403", T0);
    expect(h.failed("403", T0)).toBe("became_unhealthy");
    expect(h.check(T0 + 10_000)).toEqual({ waitMs: 0, change: "recheck" });
    // Rechecking: still unhealthy, asking; one failure is not yet the limit.
    expect(h.check(T0 + 10_001)).toEqual({ waitMs: 0, change: undefined });
    expect(h.failed("403", T0 + 10_001)).toBeUndefined();
    expect(h.healthy).toBe(false);
    expect(h.check(T0 + 10_002).waitMs).toBe(0);
    // The second failure of the recheck: another whole interval, the same "since".
    expect(h.failed("403", T0 + 10_002)).toBeUndefined();
    expect(h.check(T0 + 10_002)).toEqual({ waitMs: 10_000, change: undefined });
    expect(h.view("r", T0 + 10_002).since).toBe(new Date(T0).toISOString());
    expect(h.check(T0 + 20_002).change).toBe("recheck");
    expect(h.succeeded()).toBe("recovered");
    expect(h.healthy).toBe(true);
    expect(h.view("r", T0 + 20_002)).toEqual({ runner: "r", healthy: true, failures: 0 });
  });

  test("a reload rechecks an unhealthy runner at once and resets a healthy one's count", () => {
    const h = health(1, 3_600_000);
    expect(h.failed("403", T0)).toBe("became_unhealthy");
    expect(h.check(T0 + 1).waitMs).toBe(3_600_000 - 1);
    expect(h.recheck()).toBe("recheck");
    expect(h.check(T0 + 2)).toEqual({ waitMs: 0, change: undefined });
    expect(h.succeeded()).toBe("recovered");
    const healthy = health(3);
    healthy.failed("x", T0);
    healthy.failed("x", T0);
    expect(healthy.recheck()).toBeUndefined();
    expect(healthy.failed("x", T0)).toBeUndefined();
    expect(healthy.healthy).toBe(true);
  });

  test("the settings are read at each use: a reload that lowers the limit applies at the next failure", () => {
    let requestsLimit = 5;
    const h = new RunnerHealth(() => ({ requestsLimit, intervalMs: 1_000 }));
    h.failed("x", T0);
    requestsLimit = 2;
    expect(h.failed("x", T0)).toBe("became_unhealthy");
  });

  test("unhealthy_interval 0: asked again at once", () => {
    const h = health(1, 0);
    expect(h.failed("x", T0)).toBe("became_unhealthy");
    expect(h.check(T0)).toEqual({ waitMs: 0, change: "recheck" });
  });
});

describe("/healthz's report", () => {
  const view = (runner: string, healthy: boolean) => ({ runner, healthy, failures: healthy ? 0 : 3 });

  test("ok, degraded (some healthy), unhealthy (none), stopping", () => {
    expect(healthReport(false, [view("a", true), view("b", true)]).status).toBe("ok");
    expect(healthReport(false, [view("a", true), view("b", false)]).status).toBe("degraded");
    expect(healthReport(false, [view("a", false)])).toEqual({
      status: "unhealthy",
      runners: [view("a", false)],
    });
    expect(healthReport(true, [view("a", true)]).status).toBe("stopping");
    expect(isServing(healthReport(false, [view("a", true), view("b", false)]))).toBe(true);
    expect(isServing(healthReport(false, [view("a", false)]))).toBe(false);
    expect(isServing(healthReport(true, [view("a", true)]))).toBe(false);
  });
});
