/**
 * How long the coordinator asks drover to wait before the next request, from its answer's headers
 * (GitLab Runner's network/retry_requester.go, `calculateWaitTime`):
 *
 *   RateLimit-ResetTime: Wed, 21 Oct 2015 07:28:00 GMT    GitLab's rate limiter: when the quota is
 *                                                         reset. Read first, as GitLab Runner does.
 *   Retry-After: 120                                      seconds (RFC 9110 §10.2.3) ...
 *   Retry-After: Wed, 21 Oct 2015 07:28:00 GMT            ... or an HTTP date
 *
 * A header that is absent, malformed or already in the past asks for nothing, and the caller's own
 * backoff decides. GitLab Runner reads Retry-After as seconds only; RFC 9110 allows a date there
 * too, and a proxy in front of GitLab (HAProxy, a CDN) may send one.
 */

/**
 * The longest wait drover accepts from a header (GitLab Runner's `MaxUpdateInterval`): a wrong
 * clock or a bogus header never silences a runner for longer than this.
 */
export const MAX_SERVER_DELAY_MS = 15 * 60_000;

export interface ServerDelay {
  ms: number;
  /** Which header asked for it, for the log. */
  header: "RateLimit-ResetTime" | "Retry-After";
}

/** The wait the headers ask for, capped at MAX_SERVER_DELAY_MS; undefined when they ask for none. */
export function serverDelay(headers: Headers, now = Date.now()): ServerDelay | undefined {
  const reset = headers.get("RateLimit-ResetTime");
  if (reset !== null) {
    const at = parseHttpDate(reset);
    if (at !== undefined && at > now)
      return { ms: Math.min(at - now, MAX_SERVER_DELAY_MS), header: "RateLimit-ResetTime" };
  }
  const retryAfter = headers.get("Retry-After");
  if (retryAfter !== null) {
    const ms = retryAfterMs(retryAfter, now);
    if (ms !== undefined && ms > 0) return { ms: Math.min(ms, MAX_SERVER_DELAY_MS), header: "Retry-After" };
  }
  return undefined;
}

/** `Retry-After`'s value in ms from `now`: delta-seconds or an HTTP date; undefined when malformed. */
export function retryAfterMs(value: string, now = Date.now()): number | undefined {
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = parseHttpDate(text);
  return at === undefined ? undefined : at - now;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const LONG_DAY = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const MONTH = `(${MONTHS.join("|")})`;
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";

/** IMF-fixdate, the one format senders must use: `Sun, 06 Nov 1994 08:49:37 GMT` (UTC too, as Go's RFC1123 reads it). */
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} (?:GMT|UTC)$`);
/** The obsolete RFC 850 form: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850_DATE = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
/** The obsolete asctime form: `Sun Nov  6 08:49:37 1994` (GMT, although it does not say so). */
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * An HTTP date (RFC 9110 §5.6.7: recipients must accept all three formats) as ms since the epoch;
 * undefined for anything else. Not `Date.parse`: it reads the asctime form in local time and
 * accepts many strings that are not HTTP dates.
 */
export function parseHttpDate(value: string, now = Date.now()): number | undefined {
  const text = value.trim();
  let match = IMF_FIXDATE.exec(text);
  if (match) return utc(match[3], match[2], match[1], match[4], match[5], match[6]);
  match = RFC850_DATE.exec(text);
  if (match) return utc(rfc850Year(Number(match[3]), now), match[2], match[1], match[4], match[5], match[6]);
  match = ASCTIME_DATE.exec(text);
  if (match) return utc(match[6], match[1], match[2], match[3], match[4], match[5]);
  return undefined;
}

/**
 * RFC 9110: a two-digit year that would be more than 50 years in the future is the most recent
 * past year with the same last two digits.
 */
function rfc850Year(twoDigits: number, now: number): string {
  const current = new Date(now).getUTCFullYear();
  let year = Math.floor(current / 100) * 100 + twoDigits;
  if (year > current + 50) year -= 100;
  return String(year);
}

/** ms since the epoch; undefined for an impossible date (31 Feb, 25:00). */
function utc(
  year: string | undefined,
  month: string | undefined,
  day: string | undefined,
  hour: string | undefined,
  minute: string | undefined,
  second: string | undefined,
): number | undefined {
  const m = MONTHS.indexOf(month ?? "");
  const parts = [year, day, hour, minute, second].map((p) => Number(p?.trim()));
  const [y, d, h, min, s] = parts as [number, number, number, number, number];
  if (m < 0 || parts.some((p) => !Number.isInteger(p))) return undefined;
  if (h > 23 || min > 59 || s > 60) return undefined;
  const at = Date.UTC(y, m, d, h, min, Math.min(s, 59));
  // Date.UTC rolls 31 Feb over into March: an impossible date is no date.
  if (new Date(at).getUTCDate() !== d) return undefined;
  return at;
}
