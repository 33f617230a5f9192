/**
 * The plugin side of the launch contract (kernel/protocol/handshake.ts): cookie check, protocol
 * negotiation, socket, handshake line, health, controller, graceful shutdown. Runs on Bun and on
 * Node (no Bun-only API).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { PluginInfo, type PluginKind } from "../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
import { Health, HealthCheckResponse_ServingStatus } from "../../kernel/gen/grpc/health/v1/health_pb.ts";
import { GRPCController } from "../../kernel/gen/plugin/grpc_controller_pb.ts";
import { adoptProcessTag } from "../../kernel/process/tag.ts";
import { addService } from "../../kernel/protocol/grpc-service.ts";
import {
  APP_PROTOCOL_VERSIONS,
  formatHandshake,
  HEALTH_SERVICE_NAME,
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
  NOT_RUN_DIRECTLY_MESSAGE,
  negotiateVersion,
  PROTOCOL_VERSIONS_ENV,
  parseVersionList,
  SOCKET_DIR_ENV,
} from "../../kernel/protocol/handshake.ts";
import { MAX_MESSAGE_BYTES } from "../../kernel/protocol/limits.ts";

export interface PluginDescription {
  name: string;
  /** Semver. */
  version: string;
  capabilities?: string[];
  /** JSON Schema for the runner's `[runners.plugin.settings]`, as a JSON string. */
  settingsSchema?: string;
  /** App protocol versions this plugin speaks; default: the ones this SDK speaks. */
  protocolVersions?: number[];
}

export interface ServeOptions {
  kind: PluginKind;
  info: PluginDescription;
  /** Registers the plugin's own service (Executor or Lifecycle) on the server. */
  register(server: grpc.Server): void;
  /** Called once on shutdown (Shutdown RPC, SIGTERM, or drover gone): stop running work. */
  onShutdown?: () => Promise<void> | void;
}

/** How often a plugin checks that the drover process that started it is still its parent. */
const PARENT_CHECK_MS = 500;
/** How long a graceful server shutdown may take before connections are cut. */
const SERVER_DRAIN_MS = 1_000;

export async function serve(options: ServeOptions): Promise<void> {
  if (process.env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    process.stderr.write(`${NOT_RUN_DIRECTLY_MESSAGE}\n`);
    process.exit(1);
  }
  adoptProcessTag();
  const supported = options.info.protocolVersions ?? [...APP_PROTOCOL_VERSIONS];
  const offered = parseVersionList(process.env[PROTOCOL_VERSIONS_ENV]);
  const version = negotiateVersion(offered.length ? offered : [1], supported);
  if (version === undefined) {
    process.stderr.write(
      `${options.info.name}: no common plugin protocol version: drover offers ${offered.join(",")}, this plugin speaks ${supported.join(",")}\n`,
    );
    process.exit(1);
  }

  const ownDir = process.env[SOCKET_DIR_ENV] ? undefined : mkdtempSync(join(tmpdir(), "drover-plugin-"));
  const socketDir = process.env[SOCKET_DIR_ENV] ?? ownDir!;
  const socketPath = join(socketDir, `plugin-${process.pid}.sock`);

  // As large as the core accepts (the same constant): a job payload with megabytes of variables
  // must reach the plugin.
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    // Channelz (grpc-js's call statistics, for a channelz service nobody here serves) costs every
    // call: off, as in the core's channel (scripts/bench d).
    "grpc.enable_channelz": 0,
  });
  let shuttingDown: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    shuttingDown ??= (async () => {
      try {
        await options.onShutdown?.();
      } finally {
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, SERVER_DRAIN_MS);
          server.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
        rmSync(socketPath, { force: true });
        if (ownDir) rmSync(ownDir, { recursive: true, force: true });
        process.exit(0);
      }
    })();
    return shuttingDown;
  };

  addService(server, Health, {
    async check(request) {
      const known = request.service === "" || request.service === HEALTH_SERVICE_NAME;
      return {
        status: known
          ? HealthCheckResponse_ServingStatus.SERVING
          : HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN,
      };
    },
    async *watch(_request, ctx) {
      yield { status: HealthCheckResponse_ServingStatus.SERVING };
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener("abort", () => resolve(), { once: true }),
      );
    },
  });
  addService(server, GRPCController, {
    async shutdown() {
      // Answer first, then stop: the core waits for this reply before it starts its 2 s grace.
      setImmediate(() => void shutdown());
      return {};
    },
  });
  addService(server, PluginInfo, {
    async getInfo() {
      return {
        name: options.info.name,
        version: options.info.version,
        kind: options.kind,
        protocolVersions: supported,
        capabilities: options.info.capabilities ?? [],
        settingsSchema: options.info.settingsSchema ?? "",
      };
    },
  });
  options.register(server);

  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );

  // go-plugin plugins ignore SIGINT: Ctrl-C belongs to the core, which decides what to cancel.
  process.on("SIGINT", () => {});
  process.on("SIGTERM", () => void shutdown());
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void shutdown();
  }, PARENT_CHECK_MS).unref();

  process.stdout.write(`${formatHandshake(version, { network: "unix", path: socketPath })}\n`);
}
