/**
 * One plugin, as the core sees it: a long-lived process (started on first use, reused by every job
 * and runner that names it, restarted when it dies) and its gRPC connection.
 *
 * Every call goes through here, so that:
 *  - every in-flight call is tracked; when the process dies, all of them fail at once with an error
 *    that names the plugin, says how it died and what it printed last on stderr;
 *  - after `shutdown()` starts, new calls are refused with a coded error;
 *  - every error the plugin causes carries its name.
 */
import { rmSync } from "node:fs";
import type { DescMethod } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import { DroverError } from "../../kernel/errors.ts";
import { Executor } from "../../kernel/gen/drover/plugin/v1/executor_pb.ts";
import { Lifecycle } from "../../kernel/gen/drover/plugin/v1/lifecycle_pb.ts";
import {
  type GetInfoResponse,
  PluginInfo,
  PluginKind,
} from "../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
import { Health, HealthCheckResponse_ServingStatus } from "../../kernel/gen/grpc/health/v1/health_pb.ts";
import { GRPCController } from "../../kernel/gen/plugin/grpc_controller_pb.ts";
import { removeStaleTempDirs } from "../../kernel/process/owned-temp-dirs.ts";
import { sweepTaggedProcesses } from "../../kernel/process/sweep.ts";
import type { ExecutorClient, LifecycleClient } from "../../kernel/protocol/clients.ts";
import {
  type CallOptions,
  createClient,
  type MethodsOf,
  type ServiceClient,
} from "../../kernel/protocol/grpc-service.ts";
import { grpcTarget, HEALTH_SERVICE_NAME } from "../../kernel/protocol/handshake.ts";
import { MAX_MESSAGE_BYTES } from "../../kernel/protocol/limits.ts";
import type { Logger } from "../log/logger.ts";
import { describeExit, type LaunchedPlugin, launchPlugin, PLUGIN_GRACE_MS } from "./launch.ts";
import type { PluginSpec } from "./spec.ts";
import { translateCallError } from "./transport-errors.ts";

/** The HTTP/2 flow-control window of a plugin connection (see the channel options). */
const FLOW_CONTROL_WINDOW_BYTES = 16 * 1024 * 1024;
/** How long a failed call waits for the plugin's exit status before blaming the transport. */
const DEATH_NOTICE_MS = 1_000;
/** How long the health check and GetInfo after the handshake may take. */
const STARTUP_CALL_MS = 5_000;
/**
 * After drover cancels a call (job timeout, cancel), how long the plugin has to answer a health
 * check before it is taken for hung and killed. A plugin whose event loop is stuck answers nothing,
 * neither the cancel nor after_script nor Cleanup: without this, the job would wait for each of
 * their own timeouts (minutes, an hour) instead of ending (test/e2e/faults/plugin-faults.test.ts,
 * "a plugin that hangs during Run").
 */
export const LIVENESS_PROBE_MS = 3_000;

/** A running plugin instance: process + channel + the calls in flight on it. */
interface Instance {
  launched: LaunchedPlugin;
  channel: grpc.Client;
  info: GetInfoResponse;
  inFlight: Set<AbortController>;
  /** Set once the process is gone: the error every in-flight and later call on it gets. */
  death: DroverError | undefined;
  /** drover itself is stopping this process: its exit is not news. */
  stopping: boolean;
  /** A liveness probe is under way (see LIVENESS_PROBE_MS). */
  probing: boolean;
  /** Set when drover killed the process because it was hung: says so in the death message. */
  killedBecause: string | undefined;
  executor: ExecutorClient;
  lifecycle: LifecycleClient;
}

export class PluginHost {
  readonly spec: PluginSpec;
  /** Tagged with `{ plugin }`. */
  #logger: Logger;
  /** Untagged: launchPlugin adds the plugin's name itself (once). */
  #rootLogger: Logger;
  #handshakeTimeoutMs: number;
  #instance: Instance | undefined;
  #starting: Promise<Instance> | undefined;
  #closed = false;
  #restarts = 0;

  constructor(spec: PluginSpec, options: { logger: Logger; handshakeTimeoutMs: number }) {
    this.spec = spec;
    this.#rootLogger = options.logger;
    this.#logger = options.logger.child({ plugin: spec.name });
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** Starts the plugin if it is not running (first use, or after it died); returns its GetInfo. */
  async start(): Promise<GetInfoResponse> {
    return (await this.#ensure()).info;
  }

  /** The Executor service of this plugin; calls are tracked (see class doc). */
  async executor(): Promise<ExecutorClient> {
    const instance = await this.#ensure();
    if (instance.info.kind !== PluginKind.EXECUTOR) {
      throw new DroverError(
        "config_invalid",
        `plugin "${this.spec.name}" is ${kindName(instance.info.kind)} plugin, not an executor`,
        { plugin: this.spec.name },
      );
    }
    return instance.executor;
  }

  async lifecycle(): Promise<LifecycleClient> {
    const instance = await this.#ensure();
    if (instance.info.kind !== PluginKind.LIFECYCLE) {
      throw new DroverError(
        "config_invalid",
        `plugin "${this.spec.name}" is ${kindName(instance.info.kind)} plugin, not a lifecycle plugin`,
        { plugin: this.spec.name },
      );
    }
    return instance.lifecycle;
  }

  /** The pid of the running plugin process, if any (tests, diagnostics). */
  get pid(): number | undefined {
    return this.#instance?.launched.child.pid;
  }

  /**
   * Graceful stop: refuse new calls, ask the plugin to shut down (GRPCController/Shutdown), give it
   * PLUGIN_GRACE_MS, then SIGKILL its process group. Safe to call more than once.
   */
  async shutdown(): Promise<void> {
    this.#closed = true;
    // A restart in flight is the process to stop (the dead instance has nothing left to shut down).
    const starting = this.#starting;
    const instance = starting ? await starting.catch(() => undefined) : this.#instance;
    if (!instance || instance.death) return;
    const controller = createClient(GRPCController, instance.channel);
    await controller.shutdown({}, { timeoutMs: PLUGIN_GRACE_MS }).catch(() => undefined);
    const child = instance.launched.child;
    const exited = await Promise.race([
      child.exited.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), PLUGIN_GRACE_MS).unref()),
    ]);
    if (!exited) {
      this.#logger.warn("plugin did not stop within the grace period after Shutdown; killing it");
      child.kill();
    }
    await child.exited;
  }

  /** SIGKILL now, no questions (second Ctrl-C, exit paths). */
  kill(): void {
    this.#closed = true;
    this.#instance?.launched.child.kill();
  }

  #ensure(): Promise<Instance> {
    if (this.#closed) {
      return Promise.reject(
        new DroverError(
          "plugin_closed",
          `plugin "${this.spec.name}" is shutting down; no new calls are accepted`,
          { plugin: this.spec.name },
        ),
      );
    }
    if (this.#instance && !this.#instance.death) return Promise.resolve(this.#instance);
    this.#starting ??= this.#launch().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  /**
   * Takes over a launch that started before this host existed: `drover exec` starts its executor
   * plugin before it loads the gRPC stack and the job engine, so that the plugin's start-up and the
   * core's overlap (SPEC §11; scripts/bench b). The first call connects to it; a failed launch is
   * that call's error, exactly as if the call had started the plugin.
   */
  adopt(launching: Promise<LaunchedPlugin>): void {
    if (this.#instance || this.#starting || this.#closed) {
      throw new Error(`plugin "${this.spec.name}": adopt() needs a host that has not started`);
    }
    this.#starting = this.#connect(launching, performance.now()).finally(() => {
      this.#starting = undefined;
    });
    // Nobody may ask before it fails (a job that fails earlier): shutdown() and the next call see it.
    this.#starting.catch(() => undefined);
  }

  #launch(): Promise<Instance> {
    if (this.#instance) {
      this.#restarts++;
      this.#logger.warn({ restarts: this.#restarts }, "restarting plugin after it died");
    }
    const started = performance.now();
    return this.#connect(
      launchPlugin(this.spec, { logger: this.#rootLogger, handshakeTimeoutMs: this.#handshakeTimeoutMs }),
      started,
    );
  }

  /** Connects to a launched plugin: channel, health check, GetInfo; kills it when those fail. */
  async #connect(launching: Promise<LaunchedPlugin>, started: number): Promise<Instance> {
    const launched = await launching;
    const channel = new grpc.Client(
      grpcTarget(launched.handshake.address),
      grpc.credentials.createInsecure(),
      {
        "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
        "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
        // One plugin, one connection: never retry onto a plugin that died; we restart it ourselves.
        "grpc.enable_retries": 0,
        // Channelz keeps statistics of every call for a debugging service drover does not serve.
        "grpc.enable_channelz": 0,
        // Job output streams from the plugin at hundreds of MB/s on one local connection: HTTP/2's
        // default 64 KiB window halves that (scripts/bench f: 162 → 332 MB/s with 16 MiB). Memory
        // stays bounded: the window is per connection, and the log consumer applies back-pressure.
        "grpc-node.flow_control_window": FLOW_CONTROL_WINDOW_BYTES,
      },
    );
    const instance: Instance = {
      launched,
      channel,
      info: undefined as unknown as GetInfoResponse,
      inFlight: new Set(),
      death: undefined,
      stopping: false,
      probing: false,
      killedBecause: undefined,
      executor: undefined as unknown as ExecutorClient,
      lifecycle: undefined as unknown as LifecycleClient,
    };
    instance.executor = this.#tracked(Executor, instance);
    instance.lifecycle = this.#tracked(Lifecycle, instance);
    launched.child.exited.then((exit) =>
      this.#onExit(
        instance,
        instance.killedBecause ? `${describeExit(exit)}: ${instance.killedBecause}` : describeExit(exit),
      ),
    );
    try {
      // Both at once: one round trip less on the serial path of every one-shot job. The health
      // check's answer speaks first when both fail.
      const [health, info] = await Promise.allSettled([
        this.#tracked(Health, instance).check(
          { service: HEALTH_SERVICE_NAME },
          { timeoutMs: STARTUP_CALL_MS },
        ),
        this.#tracked(PluginInfo, instance).getInfo({}, { timeoutMs: STARTUP_CALL_MS }),
      ]);
      if (health.status === "rejected") throw health.reason;
      if (health.value.status !== HealthCheckResponse_ServingStatus.SERVING) {
        throw new DroverError(
          "plugin_launch",
          `plugin "${this.spec.name}" reports health status ${HealthCheckResponse_ServingStatus[health.value.status]}, not SERVING`,
        );
      }
      if (info.status === "rejected") throw info.reason;
      instance.info = info.value;
    } catch (err) {
      instance.stopping = true;
      launched.child.kill();
      await launched.child.exited;
      const failure = DroverError.from(err, "plugin_launch");
      throw new DroverError(
        "plugin_launch",
        `plugin "${this.spec.name}" did not answer after its handshake: ${failure.shortMessage}`,
        {
          plugin: this.spec.name,
          stderrTail: launched.stderrTail(),
        },
        { cause: failure },
      );
    }
    this.#logger.debug(
      {
        pid: launched.child.pid,
        version: instance.info.version,
        ms: Math.round(performance.now() - started),
      },
      "plugin started",
    );
    this.#instance = instance;
    return instance;
  }

  #onExit(instance: Instance, how: string): void {
    const tail = instance.launched.stderrTail();
    instance.death = new DroverError("plugin_died", `plugin "${this.spec.name}" died (${how})`, {
      plugin: this.spec.name,
      ...(tail ? { stderrTail: tail } : {}),
    });
    if (!this.#closed && !instance.stopping) this.#logger.error({ err: instance.death }, "plugin died");
    for (const call of instance.inFlight) call.abort(instance.death);
    instance.inFlight.clear();
    instance.channel.close();
    // Job processes the plugin started live in groups only it knew: find them by their tag. This
    // runs first, and nothing below may throw out of an exit handler (it would crash the core).
    const swept = sweepTaggedProcesses(instance.launched.tag);
    if (swept) this.#logger.warn({ processes: swept }, "killed processes left behind by the plugin");
    try {
      rmSync(instance.launched.socketDir, { recursive: true, force: true });
      // And the temp dirs it could not remove (a job's scripts, its JSON): their owner is gone now
      // (faults suite, plugin-faults.test.ts "SIGKILL of the plugin during Run").
      const stale = removeStaleTempDirs();
      if (stale.length) this.#logger.info({ dirs: stale }, "removed temp dirs left behind by the plugin");
    } catch (err) {
      this.#logger.warn({ err }, "could not remove the plugin's temp dirs");
    }
  }

  /** A client for `service` whose every call is tracked on `instance` and translated on failure. */
  #tracked<M extends GenServiceMethods>(service: GenService<M>, instance: Instance): ServiceClient<M> {
    const raw = createClient(service, instance.channel) as Record<
      string,
      (req: unknown, opts?: CallOptions) => unknown
    >;
    const wrapped: Record<string, unknown> = {};
    for (const method of (service as unknown as { methods: DescMethod[] }).methods) {
      const call = raw[method.localName]!;
      const rpc = `${service.name}/${method.name}`;
      if (method.methodKind === "unary") {
        wrapped[method.localName] = async (request: unknown, options?: CallOptions) => {
          const { controller, done } = this.#begin(instance, rpc, options);
          try {
            return await (call(request, { ...options, signal: controller.signal }) as Promise<unknown>);
          } catch (err) {
            throw await this.#failure(instance, err, rpc);
          } finally {
            done();
          }
        };
      } else {
        wrapped[method.localName] = (request: unknown, options?: CallOptions) =>
          this.#trackStream(instance, rpc, call, request, options);
      }
    }
    return wrapped as ServiceClient<M>;
  }

  async *#trackStream(
    instance: Instance,
    rpc: string,
    call: (req: unknown, opts?: CallOptions) => unknown,
    request: unknown,
    options: CallOptions | undefined,
  ): AsyncGenerator<unknown> {
    const { controller, done } = this.#begin(instance, rpc, options);
    try {
      for await (const message of call(request, {
        ...options,
        signal: controller.signal,
      }) as AsyncIterable<unknown>) {
        yield message;
      }
    } catch (err) {
      throw await this.#failure(instance, err, rpc);
    } finally {
      done();
    }
  }

  #begin(instance: Instance, rpc: string, options: CallOptions | undefined) {
    if (instance.death) throw instance.death.with({ rpc });
    const controller = new AbortController();
    const onAbort = () => {
      controller.abort(options?.signal?.reason);
      // The caller gave up on a call in flight: is the plugin still alive, or hung?
      this.#probe(instance);
    };
    options?.signal?.addEventListener("abort", onAbort, { once: true });
    if (options?.signal?.aborted) controller.abort(options.signal.reason);
    instance.inFlight.add(controller);
    return {
      controller,
      done: () => {
        instance.inFlight.delete(controller);
        options?.signal?.removeEventListener("abort", onAbort);
      },
    };
  }

  /**
   * Checks that the plugin still answers (a health check within LIVENESS_PROBE_MS); kills it when it
   * does not, which fails every call in flight on it at once, and the next call starts it again.
   */
  #probe(instance: Instance): void {
    if (instance.death || instance.stopping || instance.probing) return;
    instance.probing = true;
    createClient(Health, instance.channel)
      .check({ service: HEALTH_SERVICE_NAME }, { timeoutMs: LIVENESS_PROBE_MS })
      .then(
        () => {
          instance.probing = false;
        },
        (err: unknown) => {
          instance.probing = false;
          if (instance.death || instance.stopping) return;
          instance.killedBecause = `killed by drover, it did not answer a health check within ${LIVENESS_PROBE_MS} ms after a call was cancelled`;
          this.#logger.error(
            { err: translateCallError(err, this.spec.name, "Health/Check") },
            "plugin did not answer a health check after a call was cancelled; killing it",
          );
          instance.launched.child.kill();
        },
      );
  }

  async #failure(instance: Instance, err: unknown, rpc: string): Promise<DroverError> {
    // The dropped connection usually reaches us a moment before the process's exit status: give
    // the exit a short while to arrive, because "the plugin died (signal SIGKILL)" is the story,
    // whatever the transport said.
    if (!instance.death && isTransportFailure(err)) {
      await Promise.race([
        instance.launched.child.exited,
        new Promise((resolve) => setTimeout(resolve, DEATH_NOTICE_MS)),
      ]);
    }
    if (instance.death) return instance.death.with({ rpc });
    return translateCallError(err, this.spec.name, rpc);
  }
}

/** Errors that mean "the connection is gone" (as opposed to the plugin answering with an error). */
function isTransportFailure(err: unknown): boolean {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  // Not UNKNOWN: that is what a plugin's handler error arrives as (SDK and grpc-go alike).
  return code === grpc.status.UNAVAILABLE || code === grpc.status.INTERNAL;
}

function kindName(kind: PluginKind): string {
  return kind === PluginKind.EXECUTOR
    ? "executor"
    : kind === PluginKind.LIFECYCLE
      ? "lifecycle"
      : "unknown-kind";
}
