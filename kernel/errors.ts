/**
 * The one error type of drover and of its plugins, and its closed set of codes. The core and the
 * plugin SDK share it (a plugin's errors carry the same codes); what a code means for drover's exit
 * status is the core's business (src/exit-status.ts).
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
  /**
   * GitLab (the coordinator) refused a command's request, could not be reached, or answered
   * something it does not document (`drover register`, `verify`, `unregister`).
   */
  | "coordinator"
  /**
   * A plugin's source (a URL, an npm registry) could not be fetched, or is not what it is pinned
   * to (`drover plugin install`, `drover plugin sync`).
   */
  | "plugin_source"
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
  /**
   * How a plugin call failed, where that decides what happens next: the plugin does not implement
   * the method (an executor may leave out Prepare and Cleanup), or a message was over the size limit
   * (sending it again cannot help).
   */
  callFailure?: "unimplemented" | "too_large";
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
