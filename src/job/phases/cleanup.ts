/**
 * The executor's Cleanup: always called once the job was configured (after every failed prepare
 * attempt too), and it never changes the job's status: a failure is a warning in the job log. Its
 * output goes to drover's log (stdout at debug, stderr at warn), never into the job log, as GitLab
 * does with cleanup_exec.
 */
import { DroverError } from "../../../kernel/errors.ts";
import { OutputStream, ResultKind, type StageResult } from "../../../kernel/gen/drover/plugin/v1/job_pb.ts";
import type { ExecutorClient } from "../../../kernel/protocol/clients.ts";
import type { JobRun } from "../job-run.ts";

/** Cleanup gets its own bound, not cut by cancel: a serious driver needs it to release resources. */
export const CLEANUP_TIMEOUT_MS = 3_600_000;

export async function cleanupPhase(run: JobRun, client: ExecutorClient): Promise<void> {
  const logger = run.options.logger.child({ stage: "cleanup" });
  const started = Date.now();
  // Not tied to cancel nor to the hard abort (docs/custom-executor.md: cleanup runs on its own
  // timeout that job cancellation does not cut; a coordinator's "canceled" must not leak a driver's
  // VM). A second Ctrl-C kills the plugins themselves, which ends this call too.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort("timeout"), CLEANUP_TIMEOUT_MS);
  let last: Pick<StageResult, "kind" | "exitCode" | "message"> | undefined;
  try {
    for await (const event of client.cleanup(
      { jobId: run.options.jobKey, jobStatus: run.ciJobStatus },
      { signal: controller.signal },
    )) {
      if (event.event.case === "output") {
        const text = Buffer.from(event.event.value.data).toString("utf8").trimEnd();
        if (event.event.value.stream === OutputStream.STDERR) logger.warn({ output: text }, "cleanup stderr");
        else logger.debug({ output: text }, "cleanup stdout");
      } else if (event.event.case === "result") last = event.event.value;
    }
  } catch (err) {
    const error = DroverError.from(err);
    // An executor may leave Cleanup out (go-plugin's Unimplemented* embedding): nothing to clean.
    last =
      error.details.callFailure === "unimplemented"
        ? { kind: ResultKind.SUCCESS, exitCode: 0, message: "" }
        : { kind: ResultKind.SYSTEM_FAILURE, exitCode: 0, message: error.shortMessage };
  } finally {
    clearTimeout(timer);
  }
  const ok = last?.kind === ResultKind.SUCCESS;
  if (!ok) run.log.line(`WARNING: Cleanup script failed: ${last?.message || "no result"}`, "warning");
  run.record(
    "cleanup",
    { outcome: ok ? "success" : "system_failure", exitCode: last?.exitCode, message: last?.message },
    Date.now() - started,
  );
}
