/**
 * GitLab Runner's keys for a runner's health and its final updates, as config.toml gives them:
 * `unhealthy_requests_limit`, `unhealthy_interval` (a Go duration string), and
 * `job_status_final_update_retry_limit` (src/config/runners.ts, src/config/go-duration.ts).
 */
import { describe, expect, test } from "bun:test";
import { GO_DURATION_EXPECTED, parseGoDuration } from "../../src/config/go-duration.ts";
import { checkConfigText, formatProblem } from "../../src/config/index.ts";

function runnerOf(keys: string) {
  const result = checkConfigText(`[[runners]]\n  name = "r"\n${keys}\n`, "config.toml");
  return { runner: result.config?.runners[0], problems: result.problems.map(formatProblem) };
}

describe("Go durations", () => {
  test("as time.ParseDuration reads them", () => {
    expect(parseGoDuration("60s")).toBe(60_000);
    expect(parseGoDuration("1h30m")).toBe(5_400_000);
    expect(parseGoDuration("1.5h")).toBe(5_400_000);
    expect(parseGoDuration("500ms")).toBe(500);
    expect(parseGoDuration(".5s")).toBe(500);
    expect(parseGoDuration("1m0s")).toBe(60_000);
    expect(parseGoDuration("2us")).toBe(0.002);
    expect(parseGoDuration("2µs")).toBe(0.002);
    expect(parseGoDuration("0")).toBe(0);
    expect(parseGoDuration("-1m")).toBe(-60_000);
  });

  test("anything else is not one (no unit, unknown units, spaces, empty)", () => {
    for (const text of ["60", "1min", "1h 30m", "", "s", ".s", "1d", "one minute", "+"])
      expect(parseGoDuration(text)).toBeUndefined();
  });
});

describe("a runner's health and final update keys", () => {
  test("GitLab's defaults when absent: 3 requests, 60 s (drover's; GitLab Runner's is 60 min), 10 tries", () => {
    const { runner, problems } = runnerOf("");
    expect(problems).toEqual([]);
    expect(runner).toMatchObject({
      unhealthyRequestsLimit: 3,
      unhealthyIntervalMs: 60_000,
      finalUpdateRetryLimit: 10,
    });
  });

  test("as written; 0 or less is the default, as GitLab reads them", () => {
    expect(
      runnerOf(
        '  unhealthy_requests_limit = 5\n  unhealthy_interval = "1h30m"\n  job_status_final_update_retry_limit = 2',
      ).runner,
    ).toMatchObject({ unhealthyRequestsLimit: 5, unhealthyIntervalMs: 5_400_000, finalUpdateRetryLimit: 2 });
    expect(
      runnerOf(
        '  unhealthy_requests_limit = 0\n  unhealthy_interval = "0s"\n  job_status_final_update_retry_limit = -1',
      ).runner,
    ).toMatchObject({ unhealthyRequestsLimit: 3, unhealthyIntervalMs: 0, finalUpdateRetryLimit: 10 });
  });

  test("a bare integer interval (GitLab would read nanoseconds), a bad unit or a negative one: an error with the syntax", () => {
    const at = 'config.toml:3: runners[0] ("r").unhealthy_interval:';
    expect(runnerOf("  unhealthy_interval = 60").problems).toEqual([
      `${at} expected ${GO_DURATION_EXPECTED}, got integer 60`,
    ]);
    expect(runnerOf('  unhealthy_interval = "1h30min"').problems).toEqual([
      `${at} expected ${GO_DURATION_EXPECTED}, got string "1h30min"`,
    ]);
    expect(runnerOf('  unhealthy_interval = "-1m"').problems).toEqual([
      `${at} expected ${GO_DURATION_EXPECTED}, got string "-1m"`,
    ]);
    expect(runnerOf('  unhealthy_requests_limit = "3"').problems).toEqual([
      'config.toml:3: runners[0] ("r").unhealthy_requests_limit: expected an integer, got string "3"',
    ]);
  });
});
