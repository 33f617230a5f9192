/**
 * One running plugin process as the host uses it, built whole by `connectInstance`: the launched
 * process, its gRPC channel, the tracked clients of its services, what it said in GetInfo. The
 * factory checks that the plugin answers (health and GetInfo, in one round trip) and wires the
 * process's death: every call in flight fails, the channel closes, its leftovers are removed.
 */
import * as grpc from "@grpc/grpc-js";
import { DroverError } from "../../kernel/errors.ts";
import { Executor } from "../../kernel/gen/drover/plugin/v1/executor_pb.ts";
import { Lifecycle } from "../../kernel/gen/drover/plugin/v1/lifecycle_pb.ts";
import { type GetInfoResponse, PluginInfo } from "../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
import { Health, HealthCheckResponse_ServingStatus } from "../../kernel/gen/grpc/health/v1/health_pb.ts";
import type { ChildExit } from "../../kernel/process/child.ts";
import type { ExecutorClient, LifecycleClient } from "../../kernel/protocol/clients.ts";
import { grpcTarget, HEALTH_SERVICE_NAME } from "../../kernel/protocol/handshake.ts";
import { MAX_MESSAGE_BYTES } from "../../kernel/protocol/limits.ts";
import type { Logger } from "../log/logger.ts";
import { CallTracker } from "./call-tracker.ts";
import { describeExit, type LaunchedPlugin } from "./launch.ts";
import { LivenessProbe } from "./liveness.ts";
import { cleanUpAfterPlugin } from "./post-mortem.ts";

/** The HTTP/2 flow-control window of a plugin connection (see the channel options). */
const FLOW_CONTROL_WINDOW_BYTES = 16 * 1024 * 1024;
/** How long the health check and GetInfo after the handshake may take. */
const STARTUP_CALL_MS = 5_000;

export interface PluginInstance {
  readonly launched: LaunchedPlugin;
  readonly channel: grpc.Client;
  readonly calls: CallTracker;
  readonly info: GetInfoResponse;
  readonly executor: ExecutorClient;
  readonly lifecycle: LifecycleClient;
  /**
   * drover is stopping this process on purpose (shutdown, a hard abort): its death is then told as
   * `plugin "x" was stopped by drover: <because>` (not as a crash, nor as a plugin that did not
   * answer a health check), and the liveness probe leaves it alone. The first reason is kept.
   */
  stopping(because: string): void;
  /** SIGKILL its process group now, for `because` (see `stopping`). */
  kill(because: string): void;
}

export interface ConnectOptions {
  /** The plugin's name, for messages. */
  plugin: string;
  /** Tagged with `{ plugin }`. */
  logger: Logger;
  /** The process died, unless the connect itself gave up on it; `death` is what every call got. */
  onDeath(death: DroverError): void;
}

/** Connects to a launched plugin: channel, health check, GetInfo; kills it when those fail. */
export async function connectInstance(
  launched: LaunchedPlugin,
  options: ConnectOptions,
): Promise<PluginInstance> {
  const { plugin, logger } = options;
  const channel = new grpc.Client(grpcTarget(launched.handshake.address), grpc.credentials.createInsecure(), {
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
  });
  /** The connect gave up on the process and killed it: its exit is not news. */
  let abandoned = false;
  /** Why drover stops the process on purpose (shutdown, abort), once it does. */
  let stoppedBecause: string | undefined;
  /** Why the liveness probe killed it (it did not answer after a cancelled call). */
  let hungBecause: string | undefined;
  const probe = new LivenessProbe({
    plugin,
    channel,
    logger,
    settled: () => calls.death !== undefined || abandoned || stoppedBecause !== undefined,
    kill: (because) => {
      hungBecause = because;
      launched.child.kill();
    },
  });
  const calls = new CallTracker(plugin, launched.child.exited, () => probe.probe());

  launched.child.exited.then((exit) => {
    const death = endOfPlugin(plugin, exit, launched.stderrTail(), { stoppedBecause, hungBecause });
    if (stoppedBecause !== undefined) logger.debug({ exit: describeExit(exit) }, "plugin stopped");
    calls.markDead(death);
    channel.close();
    if (!abandoned) options.onDeath(death);
    cleanUpAfterPlugin(launched, logger);
  });

  let info: GetInfoResponse;
  try {
    // Both at once: one round trip less on the serial path of every one-shot job. The health
    // check's answer speaks first when both fail.
    const [health, answer] = await Promise.allSettled([
      calls.client(Health, channel).check({ service: HEALTH_SERVICE_NAME }, { timeoutMs: STARTUP_CALL_MS }),
      calls.client(PluginInfo, channel).getInfo({}, { timeoutMs: STARTUP_CALL_MS }),
    ]);
    if (health.status === "rejected") throw health.reason;
    if (health.value.status !== HealthCheckResponse_ServingStatus.SERVING) {
      throw new DroverError(
        "plugin_launch",
        `plugin "${plugin}" reports health status ${HealthCheckResponse_ServingStatus[health.value.status]}, not SERVING`,
      );
    }
    if (answer.status === "rejected") throw answer.reason;
    info = answer.value;
  } catch (err) {
    abandoned = true;
    launched.child.kill();
    await launched.child.exited;
    const failure = DroverError.from(err, "plugin_launch");
    throw new DroverError(
      "plugin_launch",
      `plugin "${plugin}" did not answer after its handshake: ${failure.shortMessage}`,
      { plugin, stderrTail: launched.stderrTail() },
      { cause: failure },
    );
  }
  const stopping = (because: string) => {
    // A plugin the probe already killed for hanging keeps that story.
    if (hungBecause === undefined) stoppedBecause ??= because;
  };
  return {
    launched,
    channel,
    calls,
    info,
    executor: calls.client(Executor, channel),
    lifecycle: calls.client(Lifecycle, channel),
    stopping,
    kill(because) {
      stopping(because);
      launched.child.kill();
    },
  };
}

/**
 * The one place a plugin's end is put into words: the error every call in flight on it, and every
 * later call on it, gets. drover stopping it on purpose is not a crash (`plugin_closed`); the
 * liveness probe's kill says why it was taken for hung; anything else is the plugin's own death.
 */
function endOfPlugin(
  plugin: string,
  exit: ChildExit,
  stderrTail: string,
  why: { stoppedBecause: string | undefined; hungBecause: string | undefined },
): DroverError {
  const details = { plugin, ...(stderrTail ? { stderrTail } : {}) };
  if (why.stoppedBecause !== undefined) {
    return new DroverError(
      "plugin_closed",
      `plugin "${plugin}" was stopped by drover: ${why.stoppedBecause}`,
      details,
    );
  }
  const how = why.hungBecause ? `${describeExit(exit)}: ${why.hungBecause}` : describeExit(exit);
  return new DroverError("plugin_died", `plugin "${plugin}" died (${how})`, details);
}
