/**
 * The one bridge between protobuf-es service descriptors (generated into kernel/gen by buf) and
 * grpc-js: service definitions for servers, typed clients for the core, typed handlers for plugins.
 * No RPC has a hand-written serializer; everything goes through `toBinary`/`fromBinary` of the
 * method's message schema.
 *
 * Only unary and server-streaming methods are supported: the plugin protocol uses no others.
 */
import {
  create,
  type DescMessage,
  type DescMethod,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import { encodeOutputEvent, hasOutputEvent } from "./output-event-encoding.ts";

type UnaryMethod = { methodKind: "unary"; input: DescMessage; output: DescMessage };
type StreamMethod = { methodKind: "server_streaming"; input: DescMessage; output: DescMessage };

export interface CallOptions {
  /** Aborting the signal cancels the call (gRPC cancellation). */
  signal?: AbortSignal;
  /** Milliseconds from now. */
  timeoutMs?: number;
}

/** A typed client: one async function per method; streaming methods return an async iterable. */
export type ServiceClient<M extends GenServiceMethods> = {
  [K in keyof M]: M[K] extends UnaryMethod
    ? (
        request: MessageInitShape<M[K]["input"]>,
        options?: CallOptions,
      ) => Promise<MessageShape<M[K]["output"]>>
    : M[K] extends StreamMethod
      ? (
          request: MessageInitShape<M[K]["input"]>,
          options?: CallOptions,
        ) => AsyncIterable<MessageShape<M[K]["output"]>>
      : never;
};

/** The method map of a generated service (`typeof Executor` → its methods). */
export type MethodsOf<S> = S extends GenService<infer M extends GenServiceMethods> ? M : never;

/** What a handler gets besides its request. */
export interface HandlerContext {
  /** Aborted when the caller cancels the call or goes away. */
  signal: AbortSignal;
  method: string;
}

/** A typed implementation: unary handlers return a message, streaming handlers yield messages. */
export type ServiceHandlers<M extends GenServiceMethods> = {
  [K in keyof M]: M[K] extends UnaryMethod
    ? (request: MessageShape<M[K]["input"]>, ctx: HandlerContext) => Promise<MessageInitShape<M[K]["output"]>>
    : M[K] extends StreamMethod
      ? (
          request: MessageShape<M[K]["input"]>,
          ctx: HandlerContext,
        ) => AsyncIterable<MessageInitShape<M[K]["output"]>>
      : never;
};

function methods(service: GenService<GenServiceMethods>): DescMethod[] {
  return service.methods;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function pathOf(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** The grpc-js definition of a service, keyed by the method's local (camelCase) name. */
export function grpcDefinition(service: GenService<GenServiceMethods>): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of methods(service)) {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new Error(
        `grpc-service: ${pathOf(method)} is ${method.methodKind}; only unary and server streaming are supported`,
      );
    }
    definition[method.localName] = {
      path: pathOf(method),
      requestStream: false,
      responseStream: method.methodKind === "server_streaming",
      requestSerialize: (value: unknown) =>
        toBuffer(toBinary(method.input, value as MessageShape<DescMessage>)),
      requestDeserialize: (bytes: Buffer) => fromBinary(method.input, bytes),
      responseSerialize: hasOutputEvent(method.output)
        ? (value: unknown) =>
            encodeOutputEvent(value) ?? toBuffer(toBinary(method.output, value as MessageShape<DescMessage>))
        : (value: unknown) => toBuffer(toBinary(method.output, value as MessageShape<DescMessage>)),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
      originalName: method.name,
    };
  }
  return definition;
}

function callOptions(options: CallOptions | undefined): grpc.CallOptions {
  return options?.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
}

/** A typed client for `service` over an existing grpc-js channel (shared by all services of a plugin). */
export function createClient<M extends GenServiceMethods>(
  service: GenService<M>,
  client: grpc.Client,
): ServiceClient<M> {
  const result: Record<string, unknown> = {};
  for (const method of methods(service as GenService<GenServiceMethods>)) {
    const path = pathOf(method);
    const serialize = (value: MessageShape<DescMessage>) => toBuffer(toBinary(method.input, value));
    const deserialize = (bytes: Buffer) => fromBinary(method.output, bytes);
    if (method.methodKind === "unary") {
      result[method.localName] = (init: MessageInitShape<DescMessage>, options?: CallOptions) =>
        new Promise((resolve, reject) => {
          if (options?.signal?.aborted) {
            reject(cancelledError(path));
            return;
          }
          const call = client.makeUnaryRequest(
            path,
            serialize,
            deserialize,
            create(method.input, init),
            new grpc.Metadata(),
            callOptions(options),
            (err, value) => (err ? reject(err) : resolve(value)),
          );
          options?.signal?.addEventListener("abort", () => call.cancel(), { once: true });
        });
    } else if (method.methodKind === "server_streaming") {
      result[method.localName] = (init: MessageInitShape<DescMessage>, options?: CallOptions) =>
        streamCall(client, path, serialize, deserialize, create(method.input, init), options);
    }
  }
  return result as ServiceClient<M>;
}

async function* streamCall(
  client: grpc.Client,
  path: string,
  serialize: (value: MessageShape<DescMessage>) => Buffer,
  deserialize: (bytes: Buffer) => MessageShape<DescMessage>,
  request: MessageShape<DescMessage>,
  options: CallOptions | undefined,
): AsyncGenerator<MessageShape<DescMessage>> {
  if (options?.signal?.aborted) throw cancelledError(path);
  const call = client.makeServerStreamRequest(
    path,
    serialize,
    deserialize,
    request,
    new grpc.Metadata(),
    callOptions(options),
  );
  const onAbort = () => call.cancel();
  options?.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    // ClientReadableStream is a Node Readable in object mode: iterating it applies back-pressure
    // to the HTTP/2 stream, so a fast plugin cannot make the core buffer without bound.
    for await (const message of call as AsyncIterable<MessageShape<DescMessage>>) yield message;
  } finally {
    options?.signal?.removeEventListener("abort", onAbort);
    // The consumer stopped early (break/throw): tell the server.
    call.cancel();
  }
}

function cancelledError(path: string): grpc.ServiceError {
  const err = new Error(`${path}: call cancelled before it started`) as grpc.ServiceError;
  err.code = grpc.status.CANCELLED;
  err.details = "cancelled";
  err.metadata = new grpc.Metadata();
  return err;
}

/** Registers typed handlers for `service` on a grpc-js server. */
export function addService<M extends GenServiceMethods>(
  server: grpc.Server,
  service: GenService<M>,
  handlers: ServiceHandlers<M>,
): void {
  const implementation: grpc.UntypedServiceImplementation = {};
  const byName = handlers as unknown as Record<string, (req: unknown, ctx: HandlerContext) => unknown>;
  for (const method of methods(service as GenService<GenServiceMethods>)) {
    const handler = byName[method.localName];
    if (!handler) throw new Error(`grpc-service: no handler for ${pathOf(method)}`);
    if (method.methodKind === "unary") {
      implementation[method.localName] = (
        call: grpc.ServerUnaryCall<unknown, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        const ctx = contextFor(call, method);
        Promise.resolve()
          .then(() => handler(call.request, ctx) as Promise<MessageInitShape<DescMessage>>)
          .then(
            (init) => callback(null, create(method.output, init)),
            (err: unknown) => callback(toServiceError(err)),
          );
      };
    } else {
      implementation[method.localName] = (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const ctx = contextFor(call, method);
        void pump(
          call,
          handler(call.request, ctx) as AsyncIterable<MessageInitShape<DescMessage>>,
          method,
          ctx,
        );
      };
    }
  }
  server.addService(grpcDefinition(service as GenService<GenServiceMethods>), implementation);
}

function contextFor(
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
  method: DescMethod,
): HandlerContext {
  const controller = new AbortController();
  call.on("cancelled", () => controller.abort());
  return { signal: controller.signal, method: pathOf(method) };
}

async function pump(
  call: grpc.ServerWritableStream<unknown, unknown>,
  source: AsyncIterable<MessageInitShape<DescMessage>>,
  method: DescMethod,
  ctx: HandlerContext,
): Promise<void> {
  try {
    for await (const init of source) {
      if (ctx.signal.aborted) break;
      if (!call.write(create(method.output, init))) {
        // Back-pressure: wait until HTTP/2 flow control lets us send more, or the call is gone.
        await new Promise<void>((resolve) => {
          const done = () => {
            call.off("drain", done);
            call.off("cancelled", done);
            resolve();
          };
          call.on("drain", done);
          call.on("cancelled", done);
        });
      }
    }
    if (!ctx.signal.aborted) call.end();
  } catch (err) {
    if (!ctx.signal.aborted) call.emit("error", toServiceError(err));
  }
}

/** A handler's exception as a gRPC status the other side can read (message in `details`). */
function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const code =
    typeof err === "object" && err !== null && "grpcCode" in err
      ? Number((err as { grpcCode: unknown }).grpcCode)
      : grpc.status.UNKNOWN;
  const details = err instanceof Error ? err.message : String(err);
  return { code, details };
}
