/**
 * Between the protocol and the job engine: an executor's StageResult turned into a StageRun (where a
 * stage result is interpreted), a StageRun back into the protocol's ResultKind, the section title
 * GitLab prints for each stage, and the job's result as the JobOutcome the completed hooks receive.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ResultKind, type StageResult } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import type { JobOutcomeSchema } from "../../kernel/gen/drover/plugin/v1/lifecycle_pb.ts";
import type { PlannedStage } from "./model.ts";
import type { StageOutcome, StageRun } from "./outcome.ts";
import type { JobResult } from "./result.ts";

export function fromResult(result: StageResult): StageRun {
  const message = result.message || undefined;
  const exitCode = result.exitCode;
  switch (result.kind) {
    case ResultKind.SUCCESS:
      return { outcome: "success", exitCode, message };
    case ResultKind.BUILD_FAILURE:
      return { outcome: "build_failure", exitCode, message: message ?? `exit status ${result.exitCode}` };
    case ResultKind.CONFIGURATION_ERROR:
      return { outcome: "configuration_error", exitCode, message };
    default:
      return {
        outcome: "system_failure",
        exitCode,
        message: message ?? "the executor reported a system failure",
      };
  }
}

export function stageKind(outcome: StageOutcome): ResultKind {
  switch (outcome) {
    case "success":
    case "skipped":
      return ResultKind.SUCCESS;
    case "build_failure":
      return ResultKind.BUILD_FAILURE;
    case "configuration_error":
      return ResultKind.CONFIGURATION_ERROR;
    default:
      return ResultKind.SYSTEM_FAILURE;
  }
}

/** The section title GitLab prints for a stage. */
export function stageTitle(stage: PlannedStage): string {
  switch (stage.name) {
    case "build_script":
      return 'Executing "step_script" stage of the job script';
    case "get_sources":
      return "Getting source from Git repository";
    case "after_script":
      return "Running after_script";
    case "prepare_script":
      return "Preparing environment";
    case "cleanup_file_variables":
      return "Cleaning up project directory and file based variables";
    case "restore_cache":
      return "Restoring cache";
    case "download_artifacts":
      return "Downloading artifacts";
    case "archive_cache":
      return "Saving cache for successful job";
    case "archive_cache_on_failure":
      return "Saving cache for failed job";
    case "upload_artifacts_on_success":
      return "Uploading artifacts for successful job";
    case "upload_artifacts_on_failure":
      return "Uploading artifacts for failed job";
    default:
      return `Executing "${stage.name}" stage of the job script`;
  }
}

/** A job's result as the protocol's JobOutcome (what JobCompleted receives). */
export function jobOutcome(result: JobResult): MessageInitShape<typeof JobOutcomeSchema> {
  return {
    status: result.status,
    failureReason: result.status === "success" ? "" : result.reason,
    exitCode: result.status === "failed" ? (result.exitCode ?? 0) : 0,
    durationMs: BigInt(result.durationMs),
    stages: result.stages.map((stage) => ({
      name: stage.name,
      kind: stageKind(stage.outcome),
      exitCode: stage.exitCode ?? 0,
      durationMs: BigInt(stage.durationMs),
    })),
  };
}
