/**
 * A plugin's stderr into drover's log (docs/plugins.md, "Logging: stderr"): each line logged through
 * `logger.child({ plugin })` at the level the plugin gave it, and the last lines kept for the error
 * that reports the plugin's death or failed handshake.
 *
 * Understood line formats, so that both TypeScript and stock Go plugins keep their levels:
 * - pino JSON: `{"level":30,"time":...,"msg":"..."}` (numeric or string level);
 * - hashicorp hclog JSON, what go-plugin plugins print: `{"@level":"debug","@message":"...",
 *   "@module":"...","@timestamp":"..."}`;
 * - anything else with `level`/`msg` or `message` (Go slog, zap, bunyan);
 * - hclog's text format, its default: `2026-12-02T08:33:00.247Z [WARN]  name: msg: key=value`;
 * - plain text, with an optional `[DEBUG]`-style prefix as go-plugin's host reads it, also after
 *   the date and time Go's standard `log` package puts first.
 */

import { LineReader, readLines } from "./line-reader.ts";
import type { Logger } from "./logger.ts";
import { redactLogText } from "./redaction.ts";

export type PluginLogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

export interface PluginLogLine {
  level: PluginLogLevel;
  msg: string;
  fields: Record<string, unknown>;
}

/** Keys that carry the level, message and time in the formats above: not repeated as fields. */
const RECORD_KEYS = new Set(["@level", "@message", "@timestamp", "level", "msg", "message", "time", "v"]);
/** Keys our own log writes: a plugin's field by that name is kept as `plugin_<key>`. */
const OWN_KEYS = new Set(["plugin", "pid", "hostname"]);

const LEVEL_NAMES: Record<string, PluginLogLevel> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  notice: "info",
  warn: "warn",
  warning: "warn",
  error: "error",
  err: "error",
  fatal: "fatal",
  panic: "fatal",
  critical: "fatal",
};

/**
 * One stderr line (without its newline) as a level, a message and fields. Never throws.
 *
 * Plain text is `info`, not `warn`: plugins print ordinary progress on stderr (it is their only
 * channel besides gRPC), and warn would cry wolf on every line; not `debug` either, as go-plugin's
 * host does, because the plain text a plugin prints is most often what it says when it fails (a Go
 * panic, an uncaught exception), which must show at the default level.
 */
export function parsePluginLogLine(line: string): PluginLogLine {
  const text = line.endsWith("\r") ? line.slice(0, -1) : line;
  if (text.startsWith("{")) {
    const record = parseObject(text);
    if (record !== undefined) {
      const level = levelOf(record["@level"] ?? record.level ?? record.severity);
      const message = record["@message"] ?? record.msg ?? record.message;
      if (level !== undefined || message !== undefined) {
        return {
          level: level ?? "info",
          msg: typeof message === "string" ? message : "",
          fields: fieldsOf(record),
        };
      }
    }
  }
  const hclog = HCLOG_TEXT.exec(text);
  if (hclog) {
    const [head, level, caller, name] = hclog;
    const fields: Record<string, unknown> = {};
    if (name !== undefined) fields.module = name;
    if (caller !== undefined) fields.caller = caller;
    return { level: levelOf(level)!, msg: text.slice(head.length), fields };
  }
  const prefixed = LEVEL_PREFIX.exec(text);
  if (prefixed) return { level: levelOf(prefixed[1])!, msg: text.slice(prefixed[0].length), fields: {} };
  return { level: "info", msg: text, fields: {} };
}

/**
 * One line of hclog's text format (go-hclog `intLogger.logPlain`, the same from 0.x to 1.x):
 *
 *   2026-12-02T08:33:00.247Z [WARN]  plugin.fc: low disk: free=2GB
 *   <time>                   <level> [<caller>: ][<name>: ]<message>[: key=value ...]
 *
 * The time is hclog's default format (`2006-01-02T15:04:05.000Z0700`) or RFC 3339; `[INFO]` and
 * `[WARN]` are padded with a space to the width of `[DEBUG]`; the caller (`dir/file.go:12`) is
 * there when the logger was made with `IncludeLocation`, the name when it has one. The key=value
 * pairs stay in the message: hclog does not quote them so that they could be told apart again.
 * A name is a run without spaces or colons before `: `, so a nameless logger's message "error: x"
 * reads as name "error", message "x": give your logger a name (go-plugin's own loggers have one).
 * Anchored, with no nested repetition: linear in the line's length, on 64 KiB lines too.
 */
const HCLOG_TEXT =
  /^\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})? \[(TRACE|DEBUG|INFO|WARN|ERROR)\] {1,2}(?:(\S+:\d+): )?(?:([^\s:]+): )?/;

/**
 * The `[LEVEL]` convention go-plugin's host understands (`log.Printf("[WARN] ...")`), at the start
 * of the line or after the `2009/11/10 23:00:00` Go's standard `log` package puts first (go-plugin
 * points that logger at the plugin's stderr). The rest of the line is the message.
 */
const LEVEL_PREFIX =
  /^(?:\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)? )?\[(TRACE|DEBUG|INFO|WARN|ERROR)\]\s?/;

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** pino's numbers (10 trace … 60 fatal, anything between rounds down) and the usual names. */
function levelOf(value: unknown): PluginLogLevel | undefined {
  if (typeof value === "number" && Number.isFinite(value)) {
    if (value >= 60) return "fatal";
    if (value >= 50) return "error";
    if (value >= 40) return "warn";
    if (value >= 30) return "info";
    if (value >= 20) return "debug";
    return "trace";
  }
  if (typeof value === "string") return LEVEL_NAMES[value.toLowerCase()];
  return undefined;
}

function fieldsOf(record: Record<string, unknown>): Record<string, unknown> {
  // Object.fromEntries defines own properties: a "__proto__" key stays a plain field.
  return Object.fromEntries(
    Object.entries(record)
      .filter(([key]) => !RECORD_KEYS.has(key) && key !== "severity")
      .map(([key, value]) => {
        if (key === "@module") return ["module", value];
        return [OWN_KEYS.has(key) ? `plugin_${key}` : key, value];
      }),
  );
}

export interface ForwardOptions {
  /** Lines kept for `tail()`; default 20. */
  tailLines?: number;
  /** Longest line forwarded, in bytes; the rest of the line is dropped and counted. Default 64 KiB. */
  maxLineBytes?: number;
}

export interface ForwardedStderr {
  /** The last lines (the unfinished one included), masked, for an error message. */
  tail(): string;
  /** Settles when the stream ends (or fails: a broken stderr pipe is logged, not thrown). */
  done: Promise<void>;
}

/** Longest line kept in the tail: the tail is read by a person, in an error message. */
const TAIL_LINE_CHARS = 2000;

/**
 * Reads `stream` to its end, logging each line. Lines end at `\n` (a `\r` before it is dropped); a
 * last line without one is logged at the end. A line longer than `maxLineBytes` (a plugin dumping
 * 50 MiB without a newline) is cut: its beginning is logged with `truncatedBytes`, and memory stays
 * bounded by `maxLineBytes`.
 */
export function forwardPluginStderr(
  stream: NodeJS.ReadableStream | AsyncIterable<Uint8Array>,
  logger: Logger,
  pluginName: string,
  opts: ForwardOptions = {},
): ForwardedStderr {
  const log = logger.child({ plugin: pluginName });
  const tailLines = opts.tailLines ?? 20;
  const maxLineBytes = opts.maxLineBytes ?? 64 * 1024;
  const tail: string[] = [];
  const reader = new LineReader(maxLineBytes, (text, truncatedBytes) => {
    if (text.length === 0 && truncatedBytes === 0) return;
    tail.push(text.length > TAIL_LINE_CHARS ? `${text.slice(0, TAIL_LINE_CHARS)}…` : text);
    if (tail.length > tailLines) tail.shift();
    const { level, msg, fields } = parsePluginLogLine(text);
    if (truncatedBytes > 0) fields.truncatedBytes = truncatedBytes;
    log[level](fields, msg);
  });

  return {
    tail: () => {
      const partial = reader.partial();
      const lines = partial !== undefined ? [...tail, partial].slice(-tailLines) : tail;
      return redactLogText(lines.join("\n"));
    },
    done: readLines(stream, reader, (error) => log.debug({ err: error }, "plugin stderr read failed")),
  };
}
