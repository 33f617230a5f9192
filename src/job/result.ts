/**
 * How a job and its stages end. A job's result is one of three shapes; a failure always has
 * GitLab's failure reason and a one-line message, a success has neither.
 */
import { ExitStatus, exitStatusForFailure, type FailureReason } from "../exit-status.ts";
import type { StageName } from "./model.ts";

/** How one stage ended, as recorded for the summary, the completed hooks and metrics. */
export interface StageRecord {
  name: StageName | "configure" | "prepare" | "cleanup" | "clear_worktree";
  outcome:
    | "success"
    | "build_failure"
    | "system_failure"
    | "configuration_error"
    | "canceled"
    | "timed_out"
    | "skipped";
  exitCode: number | undefined;
  durationMs: number;
  message: string | undefined;
}

interface ResultBase {
  stages: StageRecord[];
  durationMs: number;
}

export type JobResult =
  | (ResultBase & { status: "success" })
  | (ResultBase & {
      status: "failed";
      reason: Exclude<FailureReason, "job_canceled">;
      /** The script's exit code for script_failure. */
      exitCode: number | undefined;
      message: string;
    })
  | (ResultBase & { status: "canceled"; reason: "job_canceled"; message: string });

export type JobStatus = JobResult["status"];

/** The exit status of `drover exec` for a job's result (README.md, "Usage"). */
export function exitStatusForResult(result: JobResult): ExitStatus {
  return result.status === "success" ? ExitStatus.ok : exitStatusForFailure(result.reason);
}
