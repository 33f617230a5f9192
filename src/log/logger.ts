/**
 * drover's own log (not the job log): one root pino logger, JSON lines on stderr, human-readable
 * when stderr is a terminal (README.md, "Usage"). Everything else takes a child with its context:
 * `logger.child({ plugin })`, `logger.child({ jobId, stage })`; short constant messages, data in
 * fields, errors under `err`.
 *
 * The destination is synchronous (`pino.destination({ sync: true })`) so that nothing is lost when
 * the process exits, and formatting is in-process: no `pino.transport()`, whose worker threads the
 * `bun build --compile` binary cannot load. Every line passes through `redactLogText` last, so no
 * masked value reaches the log, whoever logs it (docs/security.md).
 */

import type { Logger as PinoLogger } from "pino";
import pino from "pino";
import { DroverError } from "../../kernel/errors.ts";
import { prettyLine } from "./pretty.ts";
import { redactLogText } from "./redaction.ts";

export type Logger = PinoLogger;
export type { LogRedaction } from "./redaction.ts";
export { addLogRedaction, redactLogText } from "./redaction.ts";

export interface LoggerOptions {
  /** pino level: trace, debug, info, warn, error, fatal or silent. */
  level: string;
  /** Human-readable lines instead of JSON: when stderr is a TTY. */
  pretty: boolean;
  /** Colour the pretty lines by level (default: true; the caller turns it off for NO_COLOR). */
  color?: boolean;
  /** Where the lines go; default 2 (stderr). Tests pass a pipe's or a file's descriptor. */
  destinationFd?: number;
}

export function createLogger(opts: LoggerOptions): Logger {
  const destination = pino.destination({ fd: opts.destinationFd ?? 2, sync: true });
  const color = opts.color ?? true;
  const stream = {
    write(line: string): void {
      destination.write(redactLogText(opts.pretty ? prettyLine(line, color) : line));
    },
    flush(cb?: (err?: Error) => void): void {
      destination.flush(cb);
    },
  };
  // The stack is noise at info; it is there when someone turns on debug to investigate.
  const withStack = (): boolean => logger.isLevelEnabled("debug");
  const logger: Logger = pino(
    {
      level: opts.level,
      // One drover process per stderr: pid and hostname would only lengthen every line.
      base: null,
      serializers: { err: (err: unknown) => serializeError(err, withStack(), 0) },
    },
    stream,
  );
  return logger;
}

/**
 * An error as a log field: `type`, `message`, `code`, `details`, `cause`, and `stack` at debug. A
 * DroverError logs its short message: the long story (stderr tail, problems) is in `details`
 * already. Not an Error (a plugin's JSON `err` field): as it is.
 */
export function serializeError(err: unknown, withStack: boolean, depth = 0): unknown {
  if (!(err instanceof Error)) return err;
  const out: Record<string, unknown> = {
    type: err.name,
    message: DroverError.is(err) ? err.shortMessage : err.message,
  };
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  const details = (err as { details?: unknown }).details;
  if (typeof details === "object" && details !== null && Object.keys(details).length > 0)
    out.details = details;
  if (err.cause !== undefined && depth < 5) out.cause = serializeError(err.cause, withStack, depth + 1);
  if (withStack && err.stack !== undefined) out.stack = err.stack;
  return out;
}
