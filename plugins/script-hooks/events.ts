/** The LifecycleEvent messages the script-hooks plugin streams back to drover: the SDK's, under the names this plugin uses. */
import {
  addPath,
  annotation,
  type LifecycleEventSchema,
  type MessageInitShape,
  mask,
  output,
  ResultKind,
  result,
  setEnv,
  stepSummary,
} from "@drover/plugin-sdk";
import type { AnnotationProperties } from "./workflow-commands.ts";

export type LifecycleEventInit = MessageInitShape<typeof LifecycleEventSchema>;
export type Stream = "stdout" | "stderr";

/** An output chunk: the SDK's own, whose shape fits every stream (StageEvent and LifecycleEvent). */
export const outputEvent: (stream: Stream, data: Uint8Array | string) => LifecycleEventInit = output;

/** An annotation from a workflow command's properties (`col` is GitHub's name for the column). */
export function annotationEvent(
  level: "error" | "warning" | "notice",
  message: string,
  properties: AnnotationProperties = {},
): LifecycleEventInit {
  const { col, ...place } = properties;
  return annotation(level, message, col === undefined ? place : { ...place, column: col });
}

export const maskEvent: (value: string) => LifecycleEventInit = mask;
export const setEnvEvent: (name: string, value: string) => LifecycleEventInit = setEnv;
export const addPathEvent: (path: string) => LifecycleEventInit = addPath;
export const stepSummaryEvent: (markdown: string) => LifecycleEventInit = stepSummary;

/** The final event of a lifecycle stream (the SDK's `result`). */
export const resultEvent: (kind: ResultKind, exitCode?: number, message?: string) => LifecycleEventInit =
  result;

export { ResultKind };
