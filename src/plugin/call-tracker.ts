/**
 * Every call on one plugin process goes through here (the tracked clients), so that:
 *  - every in-flight call is known; when the process dies, all of them fail at once with an error
 *    that names the plugin, says how it died and what it printed last on stderr;
 *  - a call on a dead process fails at once with that same error;
 *  - every error the plugin causes carries its name and the RPC (transport-errors.ts translates);
 *  - a call the caller gives up on (cancel, timeout) is reported, so the host can check that the
 *    plugin is still alive (liveness.ts).
 */
import type { DescMethod } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import type { DroverError } from "../../kernel/errors.ts";
import type { ChildExit } from "../../kernel/process/child.ts";
import { type CallOptions, createClient, type ServiceClient } from "../../kernel/protocol/grpc-service.ts";
import { translateCallError } from "./transport-errors.ts";

/** How long a failed call waits for the plugin's exit status before blaming the transport. */
const DEATH_NOTICE_MS = 1_000;

export class CallTracker {
  readonly #plugin: string;
  readonly #exited: Promise<ChildExit>;
  readonly #onCallAbandoned: () => void;
  readonly #inFlight = new Set<AbortController>();
  #death: DroverError | undefined;

  /**
   * @param exited the plugin process's exit
   * @param onCallAbandoned called when a caller cancels a call in flight
   */
  constructor(plugin: string, exited: Promise<ChildExit>, onCallAbandoned: () => void) {
    this.#plugin = plugin;
    this.#exited = exited;
    this.#onCallAbandoned = onCallAbandoned;
  }

  /** Set once the process is gone: the error every in-flight and later call gets. */
  get death(): DroverError | undefined {
    return this.#death;
  }

  /** The process is gone: every call in flight fails now with `death`, and so does every later one. */
  markDead(death: DroverError): void {
    this.#death = death;
    for (const call of this.#inFlight) call.abort(death);
    this.#inFlight.clear();
  }

  /** A client for `service` over `channel` whose every call is tracked here and translated on failure. */
  client<M extends GenServiceMethods>(service: GenService<M>, channel: grpc.Client): ServiceClient<M> {
    const raw = createClient(service, channel) as Record<
      string,
      (req: unknown, opts?: CallOptions) => unknown
    >;
    const wrapped: Record<string, unknown> = {};
    for (const method of (service as unknown as { methods: DescMethod[] }).methods) {
      const call = raw[method.localName]!;
      const rpc = `${service.name}/${method.name}`;
      wrapped[method.localName] =
        method.methodKind === "unary"
          ? (request: unknown, options?: CallOptions) => this.#unary(rpc, call, request, options)
          : (request: unknown, options?: CallOptions) => this.#stream(rpc, call, request, options);
    }
    return wrapped as ServiceClient<M>;
  }

  async #unary(
    rpc: string,
    call: (req: unknown, opts?: CallOptions) => unknown,
    request: unknown,
    options: CallOptions | undefined,
  ): Promise<unknown> {
    const { controller, done } = this.#begin(rpc, options);
    try {
      return await (call(request, { ...options, signal: controller.signal }) as Promise<unknown>);
    } catch (err) {
      throw await this.#failure(err, rpc);
    } finally {
      done();
    }
  }

  async *#stream(
    rpc: string,
    call: (req: unknown, opts?: CallOptions) => unknown,
    request: unknown,
    options: CallOptions | undefined,
  ): AsyncGenerator<unknown> {
    const { controller, done } = this.#begin(rpc, options);
    try {
      for await (const message of call(request, {
        ...options,
        signal: controller.signal,
      }) as AsyncIterable<unknown>) {
        yield message;
      }
    } catch (err) {
      throw await this.#failure(err, rpc);
    } finally {
      done();
    }
  }

  #begin(rpc: string, options: CallOptions | undefined) {
    if (this.#death) throw this.#death.with({ rpc });
    const controller = new AbortController();
    const onAbort = () => {
      controller.abort(options?.signal?.reason);
      // The caller gave up on a call in flight: is the plugin still alive, or hung?
      this.#onCallAbandoned();
    };
    options?.signal?.addEventListener("abort", onAbort, { once: true });
    if (options?.signal?.aborted) controller.abort(options.signal.reason);
    this.#inFlight.add(controller);
    return {
      controller,
      done: () => {
        this.#inFlight.delete(controller);
        options?.signal?.removeEventListener("abort", onAbort);
      },
    };
  }

  async #failure(err: unknown, rpc: string): Promise<DroverError> {
    // The dropped connection usually reaches us a moment before the process's exit status: give
    // the exit a short while to arrive, because "the plugin died (signal SIGKILL)" is the story,
    // whatever the transport said.
    if (!this.#death && isTransportFailure(err)) {
      await Promise.race([this.#exited, new Promise((resolve) => setTimeout(resolve, DEATH_NOTICE_MS))]);
    }
    if (this.#death) return this.#death.with({ rpc });
    return translateCallError(err, this.#plugin, rpc);
  }
}

/** Errors that mean "the connection is gone" (as opposed to the plugin answering with an error). */
function isTransportFailure(err: unknown): boolean {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  // Not UNKNOWN: that is what a plugin's handler error arrives as (SDK and grpc-go alike).
  return code === grpc.status.UNAVAILABLE || code === grpc.status.INTERNAL;
}
