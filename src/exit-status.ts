/**
 * The exit statuses of `drover`, and the one table from a job's failure reason (GitLab's) or a
 * command's error to the status the process exits with (README, "exit status").
 */
import type { DroverError } from "../kernel/errors.ts";

/** GitLab's failure reasons, as drover reports them for a job (docs/jobs.md). */
export type FailureReason =
  | "script_failure"
  | "runner_system_failure"
  | "job_execution_timeout"
  | "job_canceled"
  | "runner_interrupted"
  | "runner_configuration_error";

/** Process exit statuses of `drover` (README.md, "Usage"). */
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
