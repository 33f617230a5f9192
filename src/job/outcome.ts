/**
 * The one place that decides how a job ends: every call the job engine makes (launching the
 * executor, Configure and Prepare, the job_started hooks, each stage, the job_completed hooks) ends
 * in a StageRun, and `judge` turns (phase, how the call ended, why the job is stopping, if it is)
 * into a verdict; `JobStatus.after` folds verdicts into the job's status, the first failure being
 * the job's story. `shouldRun` says which stages still run after a failure or a stop. Pure: no I/O,
 * no clock, no signals (test/unit/job-outcome.test.ts walks the table).
 *
 * GitLab Runner's rules (common/build.go), written here once:
 *   - a script's non-zero exit is `script_failure` with its exit code, unless the step may fail;
 *   - a stage or job past its timeout is `job_execution_timeout`;
 *   - a cancel is `job_canceled`; drover's own shutdown is `runner_interrupted`;
 *   - the executor, its plugin, a driver or a hook failing is `runner_system_failure`;
 *   - a runner configured wrongly is `runner_configuration_error`, never retried;
 *   - prepare (Configure + Prepare) is retried on a system failure, 3 attempts in all;
 *   - after_script, cache archiving and file-variable cleanup never fail a job;
 *   - what still runs depends on where the job failed or was stopped (StageGroup, model.ts):
 *       in prepare_script: nothing (only the executor's Cleanup);
 *       in get_sources, restore_cache, download_artifacts: no step, no after_script; the
 *         on-failure cache and artifact stages and cleanup_file_variables run;
 *       in a step: no later step; after_script runs, then the on-failure stages;
 *   - after a stop, only the stages that run on cancel (after_script, cleanup_file_variables) run,
 *     by the same rule;
 *   - CI_JOB_STATUS is "running" until after_script, then the job's state: success, failed,
 *     canceled or timedout (GitLab's BuildRuntimeState).
 */
import type { FailureReason } from "../exit-status.ts";
import type { PlannedStage, StageGroup } from "./model.ts";
import type { JobResult, StageRecord } from "./result.ts";

/** Why a job stops early: the reason carried by the cancel, abort and timeout signals. */
export type StopReason = "canceled" | "interrupted" | "timeout";

export type StageOutcome = StageRecord["outcome"];

/** How one call ended. */
export interface StageRun {
  outcome: StageOutcome;
  /** The script's (or driver's) exit code, when it has one. */
  exitCode: number | undefined;
  message: string | undefined;
  /** false when trying again cannot help (a message over the protocol's size limit). */
  retryable?: boolean;
}

/** Where in the job a call was made. */
export type Phase =
  /** Launching the executor plugin (or connecting to it). */
  | { kind: "connect"; configurationError: boolean }
  /** One attempt of Configure + Prepare; `lastAttempt` when no retry is left. */
  | { kind: "prepare"; lastAttempt: boolean }
  | { kind: "started_hooks" }
  | { kind: "stage"; stage: PlannedStage }
  | { kind: "completed_hooks" };

type FailedReason = Exclude<FailureReason, "job_canceled">;

export type Verdict =
  /** Nothing changes. */
  | { kind: "continue" }
  /** Nothing changes, but the job log says so. */
  | { kind: "warn"; message: string }
  /** Prepare again (GitLab: 3 attempts, 3 s apart). */
  | { kind: "retry"; message: string }
  | { kind: "fail"; reason: FailedReason; exitCode: number | undefined; message: string }
  /** The job was stopped (cancel, drover's shutdown, the job timeout) while the call ran. */
  | { kind: "stop"; reason: StopReason };

/** The job's status so far. A job that failed stays failed whatever comes later. */
export type JobStatus =
  | { status: "success" }
  | {
      status: "failed";
      reason: FailedReason;
      exitCode: number | undefined;
      message: string;
      /** Where it failed. */
      phase: Phase["kind"];
      /** The stage group it failed in (or was stopped before): decides what still runs. */
      group: StageGroup | undefined;
    }
  | { status: "canceled"; group: StageGroup | undefined };

/** A job's status before anything happened. */
export const NOT_FAILED: JobStatus = { status: "success" };

/**
 * The verdict on one call. `stop` is the reason the job is stopping, when its stop signal has fired
 * (a call cut short by it ends "canceled" or "timed_out").
 */
export function judge(phase: Phase, run: StageRun, stop: StopReason | undefined): Verdict {
  const message = run.message ?? run.outcome;
  if (run.outcome === "success" || run.outcome === "skipped") return { kind: "continue" };
  // Cut short by the job's stop (cancel, shutdown, job timeout): the stop is the story. A stage's
  // own timeout (RUNNER_SCRIPT_TIMEOUT, a step's timeout) is not a stop of the job: see below.
  if (run.outcome === "canceled" || (run.outcome === "timed_out" && stop !== undefined)) {
    return { kind: "stop", reason: stop ?? "canceled" };
  }
  switch (phase.kind) {
    case "connect":
      return fail(phase.configurationError ? "runner_configuration_error" : "runner_system_failure", message);
    case "prepare":
      if (run.outcome === "configuration_error") return fail("runner_configuration_error", message);
      if (run.outcome === "build_failure") return fail("script_failure", message, run.exitCode);
      if (run.outcome === "system_failure" && run.retryable !== false && !phase.lastAttempt) {
        return { kind: "retry", message };
      }
      return fail("runner_system_failure", message);
    case "started_hooks":
      return fail("runner_system_failure", `job_started hook failed: ${message}`);
    case "completed_hooks":
      return fail("runner_system_failure", `job_completed hook failed: ${message}`);
    case "stage": {
      const { stage } = phase;
      if (!stage.affectsStatus) return { kind: "warn", message: `WARNING: ${stage.name} failed: ${message}` };
      if (stage.allowFailure && run.outcome === "build_failure") {
        return { kind: "warn", message: `WARNING: ${stage.name} failed (allowed to fail): ${message}` };
      }
      switch (run.outcome) {
        case "build_failure":
          return fail("script_failure", message, run.exitCode);
        case "timed_out":
          return fail("job_execution_timeout", `${stage.name} timed out after ${stage.timeoutSeconds}s`);
        case "configuration_error":
          return fail("runner_configuration_error", message);
        default:
          return fail("runner_system_failure", message);
      }
    }
  }
}

function fail(reason: FailedReason, message: string, exitCode?: number): Verdict {
  return { kind: "fail", reason, exitCode, message };
}

/**
 * The status after a verdict on a call made in `phase`. The first failure is the job's story: a job
 * that failed does not become canceled, nor fail again for another reason. A stop is a failure for
 * the job timeout (job_execution_timeout) and drover's shutdown (runner_interrupted), and a cancel
 * otherwise.
 */
export function statusAfter(
  status: JobStatus,
  verdict: Verdict,
  phase: Phase["kind"],
  jobTimeoutSeconds: number,
  group?: StageGroup,
): JobStatus {
  if (status.status !== "success") return status;
  const failed = (reason: FailedReason, message: string, exitCode?: number): JobStatus => ({
    status: "failed",
    reason,
    exitCode,
    message,
    phase,
    group,
  });
  switch (verdict.kind) {
    case "continue":
    case "warn":
    case "retry":
      return status;
    case "fail":
      return failed(verdict.reason, verdict.message, verdict.exitCode);
    case "stop":
      switch (verdict.reason) {
        case "timeout":
          return failed("job_execution_timeout", `execution took longer than ${jobTimeoutSeconds}s`);
        case "interrupted":
          return failed("runner_interrupted", "the runner was interrupted");
        case "canceled":
          return { status: "canceled", group };
      }
  }
}

/**
 * Whether `stage` runs, given the job's status so far and whether the job is stopping (a stop
 * noted in the status says where it came: `JobRun.noteStop` before each stage).
 */
export function shouldRun(
  stage: PlannedStage,
  status: JobStatus,
  stopping: boolean,
  /**
   * The status when the `post` group began: its stages follow that outcome, as GitLab decides
   * once between its on-success and on-failure stages (an upload that fails does not then run
   * the on-failure upload too).
   */
  postStatus: JobStatus = status,
): boolean {
  const endedIn = status.status === "success" ? undefined : status.group;
  if (endedIn === "prepare_script") return false;
  if (stopping && !stage.runsOnCancel) return false;
  switch (stage.group) {
    case "prepare_script":
    case "sources":
    case "steps":
      return status.status === "success";
    case "after_script":
      return status.status === "success" || endedIn === "steps" || endedIn === "after_script";
    case "post":
      if (stage.when === "always") return true;
      return stage.when === (postStatus.status === "success" ? "on_success" : "on_failure");
  }
}

/**
 * CI_JOB_STATUS once the job's outcome is known (after_script on): GitLab's runtime states, a
 * timeout (the job's or RUNNER_SCRIPT_TIMEOUT) being "timedout" and drover's own shutdown
 * "canceled" (GitLab's interrupted context).
 */
export function settledJobStatus(status: JobStatus): "success" | "failed" | "canceled" | "timedout" {
  switch (status.status) {
    case "success":
      return "success";
    case "canceled":
      return "canceled";
    case "failed":
      if (status.reason === "job_execution_timeout") return "timedout";
      if (status.reason === "runner_interrupted") return "canceled";
      return "failed";
  }
}

/** The job's result, once everything has run. */
export function jobResult(status: JobStatus, stages: StageRecord[], durationMs: number): JobResult {
  switch (status.status) {
    case "success":
      return { status: "success", stages, durationMs };
    case "canceled":
      return {
        status: "canceled",
        reason: "job_canceled",
        message: "the job was canceled",
        stages,
        durationMs,
      };
    case "failed":
      return {
        status: "failed",
        reason: status.reason,
        exitCode: status.exitCode,
        message: status.message,
        stages,
        durationMs,
      };
  }
}
