/**
 * Human-readable rendering of pino's JSON lines, for drover's log on a terminal (README.md, "Usage"). In-process
 * on purpose: `pino.transport()` and pino-pretty need worker threads, which the `bun build --compile`
 * binary cannot load (STYLE.md, Logging).
 *
 *   12:04:05.123 INFO  plugin started plugin=firecracker pid=4242
 *   12:04:05.130 ERROR job failed jobId=7 err="plugin died" err.code=plugin_died
 *       Error: plugin died
 *           at ...
 */

const ESC = "\x1b[";
const RESET = `${ESC}0m`;
const DIM = `${ESC}2m`;

const LEVELS: Record<number, { label: string; color: string }> = {
  10: { label: "TRACE", color: `${ESC}90m` },
  20: { label: "DEBUG", color: `${ESC}36m` },
  30: { label: "INFO ", color: `${ESC}32m` },
  40: { label: "WARN ", color: `${ESC}33m` },
  50: { label: "ERROR", color: `${ESC}31m` },
  60: { label: "FATAL", color: `${ESC}41;97m` },
};

/** Keys pino writes that the line shows in its own way, or not at all. */
const SHOWN_APART = new Set(["level", "time", "msg", "pid", "hostname", "err"]);

/**
 * One pino JSON line (with or without its newline) as one pretty line, newline included. A line that
 * is not a JSON object comes back as it is.
 */
export function prettyLine(json: string, color: boolean): string {
  let record: unknown;
  try {
    record = JSON.parse(json);
  } catch {
    return json.endsWith("\n") ? json : `${json}\n`;
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    return json.endsWith("\n") ? json : `${json}\n`;
  }
  const fields = record as Record<string, unknown>;
  const paint = (code: string, text: string): string => (color ? `${code}${text}${RESET}` : text);

  const level = typeof fields.level === "number" ? fields.level : 30;
  const style = LEVELS[level] ?? { label: String(level).padEnd(5), color: "" };
  const parts = [
    paint(DIM, clock(typeof fields.time === "number" ? fields.time : Date.now())),
    paint(style.color, style.label),
    oneLine(typeof fields.msg === "string" ? fields.msg : ""),
  ];
  let stack: string | undefined;
  const err = fields.err;
  if (typeof err === "object" && err !== null) {
    const e = err as Record<string, unknown>;
    parts.push(pair("err", e.message ?? e.type, paint));
    for (const [key, value] of Object.entries(e)) {
      if (key === "message" || key === "type" || key === "stack") continue;
      parts.push(pair(`err.${key}`, value, paint));
    }
    if (typeof e.stack === "string") stack = e.stack;
  } else if (err !== undefined) {
    parts.push(pair("err", err, paint));
  }
  for (const [key, value] of Object.entries(fields)) {
    if (!SHOWN_APART.has(key)) parts.push(pair(key, value, paint));
  }
  let line = `${parts.filter((part) => part.length > 0).join(" ")}\n`;
  if (stack !== undefined) {
    line += `${stack
      .split("\n")
      .map((l) => `    ${oneLine(l)}`)
      .join("\n")}\n`;
  }
  return line;
}

function pair(key: string, value: unknown, paint: (code: string, text: string) => string): string {
  return `${paint(DIM, `${key}=`)}${formatValue(value)}`;
}

/** Bare when unambiguous, else JSON: `name=lxd`, `reason="exit status 3"`, `settings={"vcpus":2}`. */
function formatValue(value: unknown): string {
  if (typeof value === "string")
    return /^[^\s"=\\\x00-\x1f\x7f]+$/.test(value) ? value : JSON.stringify(value);
  if (value === undefined) return "undefined";
  if (typeof value === "object" && value !== null) return JSON.stringify(value) ?? String(value);
  return String(value);
}

/**
 * Control characters escaped: a message may come from a plugin's stderr, and a terminal must not
 * interpret escape sequences from it, nor show one message on several lines.
 */
function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) =>
    c === "\n" ? "\\n" : c === "\t" ? "\t" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

function clock(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number): string => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}
