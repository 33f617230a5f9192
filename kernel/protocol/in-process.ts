/**
 * A client that calls a service's handlers in this process, without a socket: what the job engine's
 * unit tests drive (test/unit/job-phases.test.ts), and what a plugin author can test handlers with.
 * Every request and every message a handler yields goes through the binary encoding, as on the wire,
 * so a message that would not survive a real connection does not pass here either.
 *
 * Cancelling a call (the `signal` in its options) aborts the handler's `ctx.signal`, returns the
 * handler's generator (its `finally` blocks run) and fails the call, as gRPC cancellation does.
 *
 * @example
 * const executor = inProcessClient(Executor, myPlugin.handlers);
 * for await (const event of executor.run({ jobId: "1", stage: "build_script", script: "true" })) ...
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
import { DroverError } from "../errors.ts";
import type { CallOptions, HandlerContext, ServiceClient, ServiceHandlers } from "./grpc-service.ts";

type Handler = (request: unknown, ctx: HandlerContext) => unknown;

export function inProcessClient<M extends GenServiceMethods>(
  service: GenService<M>,
  handlers: ServiceHandlers<M>,
): ServiceClient<M> {
  const client: Record<string, unknown> = {};
  const byName = handlers as unknown as Record<string, Handler>;
  for (const method of (service as unknown as { methods: DescMethod[] }).methods) {
    const handler = byName[method.localName];
    if (!handler) throw new Error(`in-process client: no handler for ${method.name}`);
    const rpc = `${service.typeName}/${method.name}`;
    const request = (init: unknown) =>
      wire(method.input, create(method.input, init as MessageInitShape<DescMessage>));
    const response = (init: unknown) =>
      wire(method.output, create(method.output, init as MessageInitShape<DescMessage>));
    if (method.methodKind === "unary") {
      client[method.localName] = async (init: unknown, options?: CallOptions) => {
        const call = begin(rpc, options);
        try {
          return response(await call.race(Promise.resolve(handler(request(init), call.ctx))));
        } finally {
          call.end();
        }
      };
    } else {
      client[method.localName] = (init: unknown, options?: CallOptions) =>
        stream(rpc, (ctx) => handler(request(init), ctx) as AsyncIterable<unknown>, response, options);
    }
  }
  return client as ServiceClient<M>;
}

async function* stream(
  rpc: string,
  start: (ctx: HandlerContext) => AsyncIterable<unknown>,
  response: (init: unknown) => unknown,
  options: CallOptions | undefined,
): AsyncGenerator<unknown> {
  const call = begin(rpc, options);
  const messages = start(call.ctx)[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await call.race(messages.next());
      if (next.done) return;
      yield response(next.value);
    }
  } finally {
    call.end();
    // The caller is done (cancelled, or stopped reading): end the handler's generator so that its
    // `finally` blocks run, without waiting for it, as a gRPC client does not wait for the server.
    messages.return?.(undefined)?.catch(() => undefined);
  }
}

/** Encodes and decodes `message`, as the wire would. */
function wire<D extends DescMessage>(schema: D, message: MessageShape<D>): MessageShape<D> {
  return fromBinary(schema, toBinary(schema, message));
}

interface Call {
  ctx: HandlerContext;
  /** `promise`, or the cancellation error when the call is cancelled first. */
  race<T>(promise: Promise<T>): Promise<T>;
  end(): void;
}

function begin(rpc: string, options: CallOptions | undefined): Call {
  const controller = new AbortController();
  let cancelled: () => void = () => {};
  const onCancel = new Promise<never>((_, reject) => {
    cancelled = () => reject(new DroverError("plugin_call", `${rpc}: call cancelled`, { rpc }));
  });
  onCancel.catch(() => undefined);
  const abort = () => {
    controller.abort(options?.signal?.reason);
    cancelled();
  };
  const timer = options?.timeoutMs === undefined ? undefined : setTimeout(abort, options.timeoutMs);
  if (options?.signal?.aborted) abort();
  else options?.signal?.addEventListener("abort", abort, { once: true });
  return {
    ctx: { signal: controller.signal, method: `/${rpc}` },
    race: (promise) => Promise.race([promise, onCancel]),
    end() {
      clearTimeout(timer);
      options?.signal?.removeEventListener("abort", abort);
    },
  };
}
