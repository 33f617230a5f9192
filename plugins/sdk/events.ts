/** The two events every plugin stream carries: output chunks, then one result. */
import { OutputStream, type ResultKind } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";

/**
 * An output or result event. Structural (no message type name), so the same value fits every
 * stream: Executor's StageEvent and Lifecycle's LifecycleEvent share these two cases.
 */
export type OutputEvent = { event: { case: "output"; value: { stream: OutputStream; data: Uint8Array } } };
export type ResultEvent = {
  event: { case: "result"; value: { kind: ResultKind; exitCode: number; message: string } };
};

const encoder = new TextEncoder();

/** An output event for a stage (or lifecycle) stream. */
export function output(stream: "stdout" | "stderr", data: Uint8Array | string): OutputEvent {
  return {
    event: {
      case: "output",
      value: {
        stream: stream === "stdout" ? OutputStream.STDOUT : OutputStream.STDERR,
        data: typeof data === "string" ? encoder.encode(data) : data,
      },
    },
  };
}

/** The final event of a stage (or lifecycle) stream. */
export function result(kind: ResultKind, exitCode = 0, message = ""): ResultEvent {
  return { event: { case: "result", value: { kind, exitCode, message } } };
}
