/**
 * One streamed call to a plugin (Configure, Prepare, a stage's Run), read into the job log: its
 * output as it comes, then how it ended as a StageRun, recorded on the job. When the call is cut
 * short, `signal`'s reason (the job's stop, or the stage's own timeout) says why.
 */
import { DroverError } from "../../kernel/errors.ts";
import type { OutputStream, StageResult } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import type { JobRun } from "./job-run.ts";
import type { StageRun, StopReason } from "./outcome.ts";
import type { StageRecord } from "./result.ts";
import { fromResult } from "./stage-run.ts";

/** Reads one call's events: output goes to `onOutput`; resolves with its result (undefined: none). */
export type ReadCall = (
  onOutput: (data: Uint8Array, stream: OutputStream) => void,
) => Promise<StageResult | undefined>;

export interface StageCall {
  name: StageRecord["name"];
  read: ReadCall;
  /** Aborts the call: the job's stop, or the stage's own signal (its timeout). */
  signal: AbortSignal;
  /** The job log section around it, for a run stage; none for Configure and Prepare. */
  title?: string;
  /** A method an executor may leave out (Prepare): UNIMPLEMENTED means there is nothing to do. */
  optional?: boolean;
}

export async function streamStage(run: JobRun, call: StageCall): Promise<StageRun> {
  const { log } = run;
  const started = Date.now();
  if (call.title) log.sectionStart(call.name, call.title);
  let result: StageRun;
  try {
    const last = await call.read((data) => log.output(data));
    result = last
      ? fromResult(last)
      : {
          outcome: "system_failure",
          exitCode: undefined,
          message: `${call.name}: the executor ended the stage without a result`,
        };
  } catch (err) {
    if (call.signal.aborted) {
      const reason = call.signal.reason as StopReason;
      result =
        reason === "timeout"
          ? { outcome: "timed_out", exitCode: undefined, message: "timed out" }
          : {
              outcome: "canceled",
              exitCode: undefined,
              message: reason === "interrupted" ? "interrupted" : "canceled",
            };
    } else if (call.optional && DroverError.from(err).details.callFailure === "unimplemented") {
      run.options.logger.debug({ call: call.name }, "the executor does not implement it: nothing to do");
      result = { outcome: "success", exitCode: undefined, message: undefined };
    } else {
      const error = DroverError.from(err);
      run.logError(`ERROR: ${call.name} failed`, err);
      result = {
        outcome: "system_failure",
        exitCode: undefined,
        message: error.shortMessage,
        ...(error.details.callFailure === "too_large" ? { retryable: false } : {}),
      };
    }
  }
  log.flush();
  const durationMs = Date.now() - started;
  if (call.title) {
    log.sectionEnd(call.name, {
      ok: result.outcome === "success",
      durationMs,
      ...(result.outcome === "success" ? {} : { note: result.message ?? result.outcome }),
    });
  }
  run.record(call.name, result, durationMs);
  return result;
}
