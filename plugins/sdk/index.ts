/**
 * The drover plugin SDK (`@drover/plugin-sdk`): everything a plugin author imports, and the only
 * thing drover's own plugins import. A plugin is a program that calls `serveExecutor` or
 * `serveLifecycle` once; the SDK does the rest of the launch contract (cookie check, protocol
 * negotiation, unix socket, handshake line, health, controller, shutdown), and gives the building
 * blocks a serious executor needs: one way to start processes (process groups, SIGTERM → grace →
 * SIGKILL, scrubbed environment), merged output with back-pressure, a stage result from a process's
 * exit, private temp dirs that drover removes if the plugin is killed, and GitLab's variable
 * expansion.
 *
 * @example
 * import { output, ResultKind, result, serveExecutor } from "@drover/plugin-sdk";
 * await serveExecutor({
 *   info: { name: "hello", version: "1.0.0" },
 *   handlers: {
 *     async *configure() { yield { event: { case: "result", value: { status: { kind: ResultKind.SUCCESS } } } }; },
 *     async *prepare() { yield result(ResultKind.SUCCESS); },
 *     async *run(request) { yield output("stdout", `would run ${request.stage}\n`); yield result(ResultKind.SUCCESS); },
 *     async *cleanup() { yield result(ResultKind.SUCCESS); },
 *   },
 * });
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type ConfigureEventSchema, Executor } from "../../kernel/gen/drover/plugin/v1/executor_pb.ts";
import type { StageEventSchema } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import { Lifecycle, type LifecycleEventSchema } from "../../kernel/gen/drover/plugin/v1/lifecycle_pb.ts";
import { PluginKind } from "../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
import { addService, type MethodsOf, type ServiceHandlers } from "../../kernel/protocol/grpc-service.ts";
import { type PluginDescription, serve } from "./serve.ts";

export { create, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
// Building blocks drover's own plugins are made of.
export { DroverError, type ErrorCode, type ErrorDetails } from "../../kernel/errors.ts";
export {
  describeTrustProblem,
  pathTrustProblems,
  type TrustProblem,
} from "../../kernel/files/trusted-path.ts";
// The protocol: every message type, its schema and its enums (RunRequest, StageEvent, JobContext, ...).
export * from "../../kernel/gen/drover/plugin/v1/executor_pb.ts";
export * from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
export * from "../../kernel/gen/drover/plugin/v1/lifecycle_pb.ts";
export { PluginKind } from "../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
export {
  type Child,
  type ChildExit,
  type ChildOptions,
  type JobProcesses,
  startChild,
} from "../../kernel/process/child.ts";
export { type OwnedDirPrefix, ownedTempDir } from "../../kernel/process/owned-temp-dirs.ts";
export type { HandlerContext, ServiceHandlers } from "../../kernel/protocol/grpc-service.ts";
export { jobPayload } from "../../kernel/protocol/job-payload.ts";
export { MAX_MESSAGE_BYTES } from "../../kernel/protocol/limits.ts";
export {
  type ExpandableVariable,
  expandAll,
  expandVariables,
  type VariableTable,
  variableTable,
  variableValue,
} from "../../kernel/variables.ts";
export {
  type AnnotationPlace,
  addPath,
  annotation,
  type LifecycleActionEvent,
  mask,
  type OutputEvent,
  output,
  type ResultEvent,
  result,
  setEnv,
  stepSummary,
} from "./events.ts";
export { mergeOutput, type TaggedChunk } from "./merge-output.ts";
export type { PluginDescription } from "./serve.ts";
export { stageResultFromExit } from "./stage-result.ts";

export type ExecutorHandlers = ServiceHandlers<MethodsOf<typeof Executor>>;
export type LifecycleHandlers = ServiceHandlers<MethodsOf<typeof Lifecycle>>;

/**
 * One thing wrong (or odd) in a plugin's settings; `path` is relative to the settings table, so
 * that drover can say where in config.toml it is.
 */
export interface SettingsProblem {
  severity: "error" | "warning";
  path: ReadonlyArray<string | number>;
  message: string;
}

/** What a Configure handler yields. */
export type ConfigureEventInit = MessageInitShape<typeof ConfigureEventSchema>;
/** What Prepare, Run and Cleanup handlers yield. */
export type StageEventInit = MessageInitShape<typeof StageEventSchema>;
/** What JobStarted and JobCompleted handlers yield. */
export type LifecycleEventInit = MessageInitShape<typeof LifecycleEventSchema>;

export interface ExecutorPlugin {
  info: PluginDescription;
  handlers: ExecutorHandlers;
  /** Stop everything still running; called once when drover shuts the plugin down. */
  shutdown?: () => Promise<void> | void;
}

export interface LifecyclePlugin {
  info: PluginDescription;
  handlers: LifecycleHandlers;
  shutdown?: () => Promise<void> | void;
}

/** Serves an executor plugin until drover stops it. */
export function serveExecutor(plugin: ExecutorPlugin): Promise<void> {
  return serve({
    kind: PluginKind.EXECUTOR,
    info: plugin.info,
    register: (server) => addService(server, Executor, plugin.handlers),
    ...(plugin.shutdown ? { onShutdown: plugin.shutdown } : {}),
  });
}

/** Serves a lifecycle plugin until drover stops it. */
export function serveLifecycle(plugin: LifecyclePlugin): Promise<void> {
  return serve({
    kind: PluginKind.LIFECYCLE,
    info: plugin.info,
    register: (server) => addService(server, Lifecycle, plugin.handlers),
    ...(plugin.shutdown ? { onShutdown: plugin.shutdown } : {}),
  });
}
