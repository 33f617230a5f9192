/**
 * Go duration strings ("5m", "90s", "1h30m", "1.5h", "250ms"), as GitLab Runner reads
 * RUNNER_SCRIPT_TIMEOUT and RUNNER_AFTER_SCRIPT_TIMEOUT with `time.ParseDuration`.
 */

const UNIT_SECONDS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  μs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

const DURATION = /^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)/;

/**
 * Seconds in `text`, or undefined when it is not a duration. Unlike Go, a bare number is read as
 * seconds ("300"): GitLab Runner would ignore such a timeout with a warning, which surprises more
 * than it helps. Negative durations are refused.
 */
export function parseDuration(text: string): number | undefined {
  let rest = text.trim().replace(/^\+/, "");
  if (rest === "") return undefined;
  if (/^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/.test(rest)) return Number(rest);
  let seconds = 0;
  while (rest !== "") {
    const match = DURATION.exec(rest);
    if (match === null) return undefined;
    const [all, amount = "", unit = ""] = match;
    seconds += Number(amount) * (UNIT_SECONDS[unit] ?? Number.NaN);
    rest = rest.slice(all.length);
  }
  return Number.isFinite(seconds) ? seconds : undefined;
}
