/** Constructors for the LifecycleEvent messages the script-hooks plugin streams back to drover. */
import {
  AnnotationLevel,
  type LifecycleEventSchema,
  type MessageInitShape,
  output,
  ResultKind,
  result,
} from "@drover/plugin-sdk";
import type { AnnotationProperties } from "./workflow-commands.ts";

export type LifecycleEventInit = MessageInitShape<typeof LifecycleEventSchema>;
export type Stream = "stdout" | "stderr";

/** An output chunk: the SDK's own, whose shape fits every stream (StageEvent and LifecycleEvent). */
export const outputEvent: (stream: Stream, data: Uint8Array | string) => LifecycleEventInit = output;

const LEVELS = {
  error: AnnotationLevel.ERROR,
  warning: AnnotationLevel.WARNING,
  notice: AnnotationLevel.NOTICE,
} as const;

export function annotationEvent(
  level: keyof typeof LEVELS,
  message: string,
  properties: AnnotationProperties = {},
): LifecycleEventInit {
  return {
    event: {
      case: "annotation",
      value: {
        level: LEVELS[level],
        message,
        title: properties.title ?? "",
        file: properties.file ?? "",
        line: properties.line ?? 0,
        column: properties.col ?? 0,
        endLine: properties.endLine ?? 0,
        endColumn: properties.endColumn ?? 0,
      },
    },
  };
}

export function maskEvent(value: string): LifecycleEventInit {
  return { event: { case: "mask", value } };
}

export function setEnvEvent(name: string, value: string): LifecycleEventInit {
  return { event: { case: "setEnv", value: { name, value } } };
}

export function addPathEvent(path: string): LifecycleEventInit {
  return { event: { case: "addPath", value: path } };
}

export function stepSummaryEvent(markdown: string): LifecycleEventInit {
  return { event: { case: "stepSummary", value: markdown } };
}

/** The last event of a JobStarted/JobCompleted stream. */
/** The final event of a lifecycle stream (the SDK's `result`). */
export const resultEvent: (kind: ResultKind, exitCode?: number, message?: string) => LifecycleEventInit =
  result;

export { ResultKind };
