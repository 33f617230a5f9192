/**
 * The one error type of drover, its closed set of codes, and the table that maps a job's failure
 * reason to the process exit status.
 *
 * Shape after connect-es `ConnectError` and execa's final error: a short one-line message for the
 * person at the terminal (`shortMessage`), the long story (stderr tail, cause chain) in `details`
 * and `cause`. Recognised by a `Symbol.for` brand rather than `instanceof`, because a plugin may
 * bundle its own copy of this module.
 */

export type ErrorCode =
  /** The command line is wrong (exit 64). */
  | "usage"
  /** config.toml is invalid, or names something that does not exist (exit 78). */
  | "config_invalid"
  /** A job description (JSON file) is malformed (exit 64: it is the invocation's input). */
  | "job_invalid"
  /** A plugin could not be started or did not complete the handshake. */
  | "plugin_launch"
  /** A plugin process died while calls were in flight. */
  | "plugin_died"
  /** A call to a plugin failed (transport, protocol violation, plugin-side error). */
  | "plugin_call"
  /** A call was made on a plugin connection that is closed or closing. */
  | "plugin_closed"
  /** A child process could not be started or misbehaved. */
  | "process"
  /** A bug in drover. */
  | "internal";

export interface ErrorDetails {
  plugin?: string;
  rpc?: string;
  jobId?: string;
  stage?: string;
  /** The last lines a process printed on stderr before things went wrong. */
  stderrTail?: string;
  /** A file the error is about, and where in it. */
  file?: string;
  line?: number;
  keyPath?: string;
  /** Several problems found at once (config check): each already a full sentence. */
  problems?: readonly string[];
}

const brand = Symbol.for("drover.error");

export class DroverError extends Error {
  readonly [brand] = true;
  override readonly name = "DroverError";
  readonly code: ErrorCode;
  /** One line, no stack, no cause: what the user sees. */
  readonly shortMessage: string;
  readonly details: ErrorDetails;

  constructor(
    code: ErrorCode,
    shortMessage: string,
    details: ErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(
      longMessage(shortMessage, details),
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = details;
  }

  /** True for any DroverError, whichever copy of this module made it. */
  static is(value: unknown): value is DroverError {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }

  /** Turns anything caught into a DroverError; keeps a DroverError as it is. */
  static from(value: unknown, code: ErrorCode = "internal"): DroverError {
    if (DroverError.is(value)) return value;
    if (value instanceof Error) return new DroverError(code, value.message, {}, { cause: value });
    return new DroverError(code, String(value));
  }

  /** A copy with more details (e.g. the plugin name stamped on by the plugin host). */
  with(details: ErrorDetails): DroverError {
    return new DroverError(
      this.code,
      this.shortMessage,
      { ...this.details, ...details },
      { cause: this.cause },
    );
  }
}

function longMessage(short: string, details: ErrorDetails): string {
  const parts = [short];
  if (details.problems?.length) parts.push(...details.problems.map((p) => `  ${p}`));
  if (details.stderrTail) parts.push(`last output on stderr:\n${details.stderrTail}`);
  return parts.join("\n");
}

/** GitLab's failure reasons, as drover reports them for a job (SPEC §6). */
export type FailureReason =
  | "script_failure"
  | "runner_system_failure"
  | "job_execution_timeout"
  | "job_canceled"
  | "runner_interrupted"
  | "runner_configuration_error";

/** Process exit statuses of `drover` (SPEC §3). */
export const ExitStatus = {
  ok: 0,
  jobFailed: 1,
  systemFailure: 2,
  canceled: 3,
  usage: 64,
  config: 78,
} as const;
export type ExitStatus = (typeof ExitStatus)[keyof typeof ExitStatus];

/** The one table from a job's failure reason to drover's exit status. */
export function exitStatusForFailure(reason: FailureReason): ExitStatus {
  switch (reason) {
    case "script_failure":
      return ExitStatus.jobFailed;
    case "runner_system_failure":
      return ExitStatus.systemFailure;
    case "job_execution_timeout":
    case "job_canceled":
    case "runner_interrupted":
      return ExitStatus.canceled;
    case "runner_configuration_error":
      return ExitStatus.config;
  }
}

/** The exit status for an error that ended a command before or outside a job. */
export function exitStatusForError(err: DroverError): ExitStatus {
  switch (err.code) {
    case "usage":
    case "job_invalid":
      return ExitStatus.usage;
    case "config_invalid":
      return ExitStatus.config;
    default:
      return ExitStatus.systemFailure;
  }
}
