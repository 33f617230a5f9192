/**
 * One plugin, supervised: a long-lived process started on first use, reused by every job and
 * runner that names it, restarted when it dies, stopped gracefully at the end (README,
 * "Architecture"). What one running process is (its channel, its tracked calls, its death) is
 * instance.ts; this decides when there is one.
 *
 *  - after `shutdown()` or `kill()`, new calls are refused with a coded error, and the calls still
 *    in flight fail with one that says drover stopped the plugin, and why (instance.ts);
 *  - a dead process is replaced by the next call (a restart), never by a call in flight;
 *  - every error the plugin causes carries its name (call-tracker.ts).
 */
import { DroverError } from "../../kernel/errors.ts";
import { type GetInfoResponse, PluginKind } from "../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
import { GRPCController } from "../../kernel/gen/plugin/grpc_controller_pb.ts";
import type { ExecutorClient, LifecycleClient } from "../../kernel/protocol/clients.ts";
import { createClient } from "../../kernel/protocol/grpc-service.ts";
import type { Logger } from "../log/logger.ts";
import { connectInstance, type PluginInstance } from "./instance.ts";
import { type LaunchedPlugin, launchPlugin, PLUGIN_GRACE_MS } from "./launch.ts";
import type { PluginSpec } from "./spec.ts";

export interface PluginHostOptions {
  logger: Logger;
  handshakeTimeoutMs: number;
}

export class PluginHost {
  readonly spec: PluginSpec;
  /** Tagged with `{ plugin }`. */
  readonly #logger: Logger;
  /** Untagged: launchPlugin adds the plugin's name itself (once). */
  readonly #rootLogger: Logger;
  readonly #handshakeTimeoutMs: number;
  #instance: PluginInstance | undefined;
  #starting: Promise<PluginInstance> | undefined;
  /** Set by `shutdown()` or `kill()`: why no new call is accepted. */
  #closed: { kind: "shutdown" | "kill"; because: string } | undefined;
  #restarts = 0;

  constructor(spec: PluginSpec, options: PluginHostOptions) {
    this.spec = spec;
    this.#rootLogger = options.logger;
    this.#logger = options.logger.child({ plugin: spec.name });
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs;
  }

  /** How many times the plugin was started again after it died. */
  get restarts(): number {
    return this.#restarts;
  }

  /** The pid of the running plugin process, if any (tests, diagnostics). */
  get pid(): number | undefined {
    return this.#instance?.launched.child.pid;
  }

  /** Starts the plugin if it is not running (first use, or after it died); returns its GetInfo. */
  async start(): Promise<GetInfoResponse> {
    return (await this.#ensure()).info;
  }

  /** The Executor service of this plugin; a configuration error when the plugin is of another kind. */
  async executor(): Promise<ExecutorClient> {
    return (await this.#ofKind(PluginKind.EXECUTOR)).executor;
  }

  /** The Lifecycle service of this plugin; a configuration error when the plugin is of another kind. */
  async lifecycle(): Promise<LifecycleClient> {
    return (await this.#ofKind(PluginKind.LIFECYCLE)).lifecycle;
  }

  async #ofKind(kind: PluginKind): Promise<PluginInstance> {
    const instance = await this.#ensure();
    if (instance.info.kind !== kind) {
      throw new DroverError(
        "config_invalid",
        `plugin "${this.spec.name}" is ${kindName(instance.info.kind)} plugin, not ${kindName(kind)} plugin`,
        { plugin: this.spec.name },
      );
    }
    return instance;
  }

  /**
   * Takes over a launch that started before this host existed: `drover exec` starts its executor
   * plugin before it loads the gRPC stack and the job engine, so that the plugin's start-up and the
   * core's overlap (docs/performance.md; scripts/bench b). The first call connects to it; a failed
   * launch is that call's error, exactly as if the call had started the plugin.
   */
  adopt(launching: Promise<LaunchedPlugin>): void {
    if (this.#instance || this.#starting || this.#closed !== undefined) {
      throw new Error(`plugin "${this.spec.name}": adopt() needs a host that has not started`);
    }
    // Nobody may ask before it fails (a job that fails earlier): shutdown() and the next call see it.
    this.#begin(launching).catch(() => undefined);
  }

  /**
   * Graceful stop: refuse new calls, ask the plugin to shut down (GRPCController/Shutdown), give it
   * PLUGIN_GRACE_MS, then SIGKILL its process group. Safe to call more than once. A call still in
   * flight fails with `plugin "x" was stopped by drover: <because>`.
   */
  async shutdown(because = "drover is shutting down"): Promise<void> {
    this.#closed ??= { kind: "shutdown", because };
    // A restart in flight is the process to stop (the dead instance has nothing left to shut down).
    const starting = this.#starting;
    const instance = starting ? await starting.catch(() => undefined) : this.#instance;
    if (!instance || instance.calls.death) return;
    instance.stopping(because);
    const controller = createClient(GRPCController, instance.channel);
    await controller.shutdown({}, { timeoutMs: PLUGIN_GRACE_MS }).catch(() => undefined);
    const child = instance.launched.child;
    const exited = await Promise.race([
      child.exited.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), PLUGIN_GRACE_MS).unref()),
    ]);
    if (!exited) {
      this.#logger.warn("plugin did not stop within the grace period after Shutdown; killing it");
      instance.kill(because);
    }
    await child.exited;
  }

  /**
   * SIGKILL now, no questions (second Ctrl-C, exit paths). The calls in flight, Cleanup included,
   * fail with `plugin "x" was stopped by drover: <because>`, and no liveness probe blames the plugin
   * for not answering while it dies.
   */
  kill(because = "the run was aborted"): void {
    if (this.#closed?.kind !== "kill") this.#closed = { kind: "kill", because };
    this.#instance?.kill(because);
    // A process still connecting would otherwise live on until shutdown().
    this.#starting?.then(
      (instance) => instance.kill(because),
      () => undefined,
    );
  }

  #ensure(): Promise<PluginInstance> {
    if (this.#closed) {
      const message =
        this.#closed.kind === "kill"
          ? `plugin "${this.spec.name}" was stopped by drover: ${this.#closed.because}; no new calls are accepted`
          : `plugin "${this.spec.name}" is shutting down; no new calls are accepted`;
      return Promise.reject(new DroverError("plugin_closed", message, { plugin: this.spec.name }));
    }
    if (this.#instance && !this.#instance.calls.death) return Promise.resolve(this.#instance);
    if (!this.#starting) {
      if (this.#instance) {
        this.#restarts++;
        this.#logger.warn({ restarts: this.#restarts }, "restarting plugin after it died");
      }
      return this.#begin(
        launchPlugin(this.spec, { logger: this.#rootLogger, handshakeTimeoutMs: this.#handshakeTimeoutMs }),
      );
    }
    return this.#starting;
  }

  /** Connects to a launching process; the instance becomes the current one once it answers. */
  #begin(launching: Promise<LaunchedPlugin>): Promise<PluginInstance> {
    const started = performance.now();
    const starting = (async () => {
      const instance = await connectInstance(await launching, {
        plugin: this.spec.name,
        logger: this.#logger,
        onDeath: (death) => {
          if (!this.#closed) this.#logger.error({ err: death }, "plugin died");
        },
      });
      this.#logger.debug(
        {
          pid: instance.launched.child.pid,
          version: instance.info.version,
          ms: Math.round(performance.now() - started),
        },
        "plugin started",
      );
      this.#instance = instance;
      return instance;
    })().finally(() => {
      this.#starting = undefined;
    });
    this.#starting = starting;
    return starting;
  }
}

function kindName(kind: PluginKind): string {
  switch (kind) {
    case PluginKind.EXECUTOR:
      return "an executor";
    case PluginKind.LIFECYCLE:
      return "a lifecycle";
    default:
      return "an unknown-kind";
  }
}
