/**
 * `token_obtained_at` and `token_expires_at`: the two timestamps GitLab Runner keeps beside a
 * runner's token (its `RunnerCredentials`), read and written the way it reads and writes them, so
 * one config.toml serves both programs.
 *
 * GitLab Runner's TOML encoder writes a Go `time.Time` as an RFC 3339 date-time (`2024-05-01T12:00:00Z`,
 * fractional seconds only when there are some), and writes a token that never expires as Go's zero
 * time, `0001-01-01T00:00:00Z`. Its decoder also takes an RFC 3339 string (time.Time is a
 * TextUnmarshaler), so a quoted date-time is accepted here too. GitLab's API sends
 * `token_expires_at` as an ISO 8601 string with milliseconds, or null for "never".
 */
import { TomlDate, type TomlValue } from "smol-toml";

/** Go's zero `time.Time`, which GitLab Runner writes for "no expiry" / "not known". */
export const GO_ZERO_TIME = "0001-01-01T00:00:00Z";
const GO_ZERO_MS = Date.parse(GO_ZERO_TIME);

/** RFC 3339 with a time zone; the separator may be `T`, `t` or a space, as RFC 3339 allows. */
const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * An RFC 3339 date-time string → Date; undefined when it is not one. Fractions beyond milliseconds
 * are cut (a Date holds milliseconds).
 */
export function parseRfc3339(text: string): Date | undefined {
  const match = RFC3339.exec(text.trim());
  if (!match) return undefined;
  const [, date, time, fraction = "", zone = "Z"] = match;
  const millis = fraction === "" ? "" : fraction.slice(0, 4).padEnd(4, "0");
  const parsed = new Date(`${date}T${time}${millis}${zone.toUpperCase()}`);
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

export type TokenTimeReading =
  | { ok: true /** undefined: Go's zero time, "not set". */; time: Date | undefined }
  | { ok: false; expected: string };

/** A config.toml value for one of the two keys. */
export function readTokenTime(value: TomlValue): TokenTimeReading {
  const expected = "a date-time with a time zone, like 2024-05-01T12:00:00Z";
  let time: Date | undefined;
  if (value instanceof TomlDate) {
    // A local date-time has no zone: GitLab Runner would read it in its host's zone, drover would
    // have to guess. GitLab Runner itself always writes UTC.
    if (!value.isDateTime() || value.isLocal()) return { ok: false, expected };
    time = new Date(value.getTime());
  } else if (typeof value === "string") {
    time = parseRfc3339(value);
  }
  if (time === undefined) return { ok: false, expected };
  return { ok: true, time: time.getTime() === GO_ZERO_MS ? undefined : time };
}

/**
 * The TOML value GitLab Runner writes for `time`: an unquoted RFC 3339 date-time in UTC, with
 * milliseconds only when there are some; Go's zero time for undefined.
 *
 * @example
 * tokenTimeToml(new Date("2024-05-01T12:00:00.000Z")) // "2024-05-01T12:00:00Z"
 * tokenTimeToml(undefined)                          // "0001-01-01T00:00:00Z"
 */
export function tokenTimeToml(time: Date | undefined): string {
  if (time === undefined) return GO_ZERO_TIME;
  const iso = time.toISOString();
  return iso.endsWith(".000Z") ? `${iso.slice(0, -5)}Z` : iso;
}

/** `time` as shown to people: the TOML form, or "never" for no expiry. */
export function describeTokenTime(time: Date | undefined): string {
  return time === undefined ? "never" : tokenTimeToml(time);
}
