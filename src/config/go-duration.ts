/**
 * GitLab Runner's duration keys (`unhealthy_interval`, ...) are Go `time.Duration`s, written in
 * config.toml as Go's `time.ParseDuration` reads them: "60s", "1h30m", "1.5h", "500ms", "0".
 * This reads the same syntax, so a GitLab file means the same to drover.
 *
 * A bare TOML integer is not accepted where GitLab's parser would read it as nanoseconds: a
 * `unhealthy_interval = 60` meaning 60 ns is a trap, refused with the syntax to use instead.
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

const COMPONENT = /(\d*)(?:\.(\d*))?([^\d.]+)/y;

/** Milliseconds for a Go duration string; undefined when it is not one. Negative durations are Go's too. */
export function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") return undefined;
  let total = 0;
  COMPONENT.lastIndex = 0;
  while (COMPONENT.lastIndex < rest.length) {
    const start = COMPONENT.lastIndex;
    const match = COMPONENT.exec(rest);
    if (!match || match.index !== start) return undefined;
    const [, whole = "", fraction = "", unit = ""] = match;
    // Go requires a digit on at least one side of the point: ".5s" and "5.s" yes, ".s" no.
    if (whole === "" && fraction === "") return undefined;
    const perUnit = UNIT_MS[unit];
    if (perUnit === undefined) return undefined;
    total += Number(`${whole || "0"}.${fraction || "0"}`) * perUnit;
  }
  return sign * total;
}

/** The message for a value that is not a duration: what to write instead. */
export const GO_DURATION_EXPECTED =
  'a duration such as "60s", "1h30m" or "500ms" (Go\'s syntax: ns, us, ms, s, m, h)';
