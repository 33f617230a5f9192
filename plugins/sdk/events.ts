/**
 * Constructors for the events plugins send: output chunks and one result on every stream, and the
 * lifecycle events that act on the job (mask, setEnv, addPath, stepSummary, annotation).
 */
import { OutputStream, type ResultKind } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import { AnnotationLevel } from "../../kernel/gen/drover/plugin/v1/lifecycle_pb.ts";

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

/**
 * The events a lifecycle plugin may send besides output and its result (`LifecycleEvent`), each
 * acting on the job from then on, as GitHub's workflow commands do.
 */
export type LifecycleActionEvent =
  | { event: { case: "mask"; value: string } }
  | { event: { case: "setEnv"; value: { name: string; value: string } } }
  | { event: { case: "addPath"; value: string } }
  | { event: { case: "stepSummary"; value: string } }
  | { event: { case: "annotation"; value: AnnotationInit } };

/** Where in the code an annotation points (all optional; lines and columns count from 1). */
export interface AnnotationPlace {
  title?: string;
  file?: string;
  line?: number;
  column?: number;
  endLine?: number;
  endColumn?: number;
}

type AnnotationInit = Required<AnnotationPlace> & { level: AnnotationLevel; message: string };

/** Masks `value` in the job log from now on (GitHub's `::add-mask::`). */
export function mask(value: string): LifecycleActionEvent {
  return { event: { case: "mask", value } };
}

/** Sets `name=value` in the environment of every later stage of the job (GitHub's GITHUB_ENV). */
export function setEnv(name: string, value: string): LifecycleActionEvent {
  return { event: { case: "setEnv", value: { name, value } } };
}

/** Puts `path` first in PATH of every later stage of the job (GitHub's GITHUB_PATH). */
export function addPath(path: string): LifecycleActionEvent {
  return { event: { case: "addPath", value: path } };
}

/** Adds Markdown to the job's step summary (GitHub's GITHUB_STEP_SUMMARY). */
export function stepSummary(markdown: string): LifecycleActionEvent {
  return { event: { case: "stepSummary", value: markdown } };
}

const LEVELS = {
  notice: AnnotationLevel.NOTICE,
  warning: AnnotationLevel.WARNING,
  error: AnnotationLevel.ERROR,
} as const;

/** An annotation on the job (GitHub's `::warning file=x,line=3::message`). */
export function annotation(
  level: keyof typeof LEVELS,
  message: string,
  place: AnnotationPlace = {},
): LifecycleActionEvent {
  return {
    event: {
      case: "annotation",
      value: {
        level: LEVELS[level],
        message,
        title: place.title ?? "",
        file: place.file ?? "",
        line: place.line ?? 0,
        column: place.column ?? 0,
        endLine: place.endLine ?? 0,
        endColumn: place.endColumn ?? 0,
      },
    },
  };
}
