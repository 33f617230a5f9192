/**
 * How long the coordinator asks drover to wait (src/coordinator/retry-after.ts): RateLimit-ResetTime
 * first, then Retry-After in seconds or as an HTTP date, in all three of RFC 9110's date formats.
 */
import { describe, expect, test } from "bun:test";
import {
  MAX_SERVER_DELAY_MS,
  parseHttpDate,
  retryAfterMs,
  serverDelay,
} from "../../src/coordinator/retry-after.ts";

const NOW = Date.UTC(2026, 11, 2, 10, 0, 0); // Wed, 02 Dec 2026 10:00:00 GMT

describe("HTTP dates", () => {
  test("IMF-fixdate, RFC 850 and asctime all read as UTC", () => {
    const expected = Date.UTC(1994, 10, 6, 8, 49, 37);
    expect(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", NOW)).toBe(expected);
    expect(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", NOW)).toBe(expected);
    expect(parseHttpDate("Sun Nov  6 08:49:37 1994", NOW)).toBe(expected);
    // Go's RFC1123 layout (GitLab Runner's RateLimit-ResetTime parser) takes UTC as well.
    expect(parseHttpDate("Sun, 06 Nov 1994 08:49:37 UTC", NOW)).toBe(expected);
  });

  test("an RFC 850 two-digit year more than 50 years ahead is in the past century", () => {
    expect(parseHttpDate("Thursday, 01-Jan-70 00:00:00 GMT", NOW)).toBe(Date.UTC(2070, 0, 1));
    expect(parseHttpDate("Friday, 01-Jan-99 00:00:00 GMT", NOW)).toBe(Date.UTC(1999, 0, 1));
  });

  test("anything else is no date: other zones, impossible days, loose formats", () => {
    for (const text of [
      "Sun, 06 Nov 1994 08:49:37 PST",
      "Sun, 31 Feb 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 25:49:37 GMT",
      "1994-11-06T08:49:37Z",
      "06 Nov 1994",
      "",
      "tomorrow",
    ])
      expect(parseHttpDate(text, NOW)).toBeUndefined();
  });
});

describe("Retry-After", () => {
  test("delta-seconds, or an HTTP date from now; malformed is undefined", () => {
    expect(retryAfterMs("120", NOW)).toBe(120_000);
    expect(retryAfterMs(" 3 ", NOW)).toBe(3_000);
    expect(retryAfterMs("Wed, 02 Dec 2026 10:00:30 GMT", NOW)).toBe(30_000);
    expect(retryAfterMs("-5", NOW)).toBeUndefined();
    expect(retryAfterMs("1.5", NOW)).toBeUndefined();
    expect(retryAfterMs("soon", NOW)).toBeUndefined();
  });
});

describe("the wait the coordinator asks for", () => {
  const headers = (h: Record<string, string>) => new Headers(h);

  test("RateLimit-ResetTime wins over Retry-After, as in GitLab Runner", () => {
    expect(
      serverDelay(
        headers({ "RateLimit-ResetTime": "Wed, 02 Dec 2026 10:00:10 GMT", "Retry-After": "60" }),
        NOW,
      ),
    ).toEqual({ ms: 10_000, header: "RateLimit-ResetTime" });
  });

  test("a reset time in the past or malformed falls back to Retry-After", () => {
    expect(
      serverDelay(
        headers({ "RateLimit-ResetTime": "Wed, 02 Dec 2026 09:59:00 GMT", "Retry-After": "7" }),
        NOW,
      ),
    ).toEqual({ ms: 7_000, header: "Retry-After" });
    expect(serverDelay(headers({ "RateLimit-ResetTime": "garbage", "Retry-After": "7" }), NOW)).toEqual({
      ms: 7_000,
      header: "Retry-After",
    });
  });

  test("nothing asked: undefined (zero, past dates and no headers included)", () => {
    expect(serverDelay(headers({}), NOW)).toBeUndefined();
    expect(serverDelay(headers({ "Retry-After": "0" }), NOW)).toBeUndefined();
    expect(serverDelay(headers({ "Retry-After": "Wed, 02 Dec 2026 09:00:00 GMT" }), NOW)).toBeUndefined();
  });

  test("a wait longer than 15 minutes is cut to 15 minutes", () => {
    expect(serverDelay(headers({ "Retry-After": "86400" }), NOW)).toEqual({
      ms: MAX_SERVER_DELAY_MS,
      header: "Retry-After",
    });
    expect(MAX_SERVER_DELAY_MS).toBe(15 * 60_000);
  });
});
