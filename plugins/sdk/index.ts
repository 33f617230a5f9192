/**
 * The drover plugin SDK: what a plugin author imports. A plugin is a program that calls
 * `serveExecutor` or `serveLifecycle` once; the SDK does the rest of the launch contract
 * (cookie check, protocol negotiation, unix socket, handshake line, health, controller, shutdown).
 *
 * @example
 * import { serveExecutor, output, result, ResultKind } from "drover/plugins/sdk";
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
import { Executor } from "../../src/gen/drover/plugin/v1/executor_pb.ts";
import { OutputStream, ResultKind } from "../../src/gen/drover/plugin/v1/job_pb.ts";
import { Lifecycle } from "../../src/gen/drover/plugin/v1/lifecycle_pb.ts";
import { PluginKind } from "../../src/gen/drover/plugin/v1/plugin_info_pb.ts";
import { addService, type MethodsOf, type ServiceHandlers } from "../../src/protocol/grpc-service.ts";
import { type PluginDescription, serve } from "./serve.ts";

export * from "../../src/gen/drover/plugin/v1/executor_pb.ts";
export * from "../../src/gen/drover/plugin/v1/job_pb.ts";
export * from "../../src/gen/drover/plugin/v1/lifecycle_pb.ts";
export type { HandlerContext, ServiceHandlers } from "../../src/protocol/grpc-service.ts";
export type { PluginDescription } from "./serve.ts";

export type ExecutorHandlers = ServiceHandlers<MethodsOf<typeof Executor>>;
export type LifecycleHandlers = ServiceHandlers<MethodsOf<typeof Lifecycle>>;

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

export { OutputStream, PluginKind, ResultKind };
