/**
 * Translates what a gRPC call to a plugin threw into a DroverError that names the plugin and the
 * RPC: the one place that knows grpc-js status codes (after connect-es node-error.ts).
 */
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { DroverError } from "../../kernel/errors.ts";
import { MAX_MESSAGE_BYTES } from "../../kernel/protocol/limits.ts";

function isServiceError(err: unknown): err is ServiceError {
  return (
    typeof err === "object" &&
    err !== null &&
    "code" in err &&
    "details" in err &&
    typeof (err as ServiceError).code === "number"
  );
}

export function translateCallError(err: unknown, plugin: string, rpc: string): DroverError {
  if (DroverError.is(err)) return err.with({ plugin, rpc });
  const details = { plugin, rpc };
  if (!isServiceError(err)) {
    return new DroverError(
      "plugin_call",
      `plugin "${plugin}": ${rpc} failed: ${DroverError.from(err).shortMessage}`,
      details,
      { cause: err },
    );
  }
  // grpc-js appends connection diagnostics ("Last error: ... Resolution note: ") to some details.
  err.details = err.details.replace(/\s*Resolution note:.*$/s, "");
  switch (err.code) {
    // The socket is gone or refused: the plugin exited or is not listening (ECONNREFUSED, ENOENT
    // on the socket path both surface as UNAVAILABLE in grpc-js).
    case GrpcStatus.UNAVAILABLE:
      return new DroverError(
        "plugin_call",
        `plugin "${plugin}" is unavailable during ${rpc}: ${err.details}`,
        details,
        { cause: err },
      );
    // Our own deadline (handshake health check, GetInfo, Shutdown) passed.
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new DroverError("plugin_call", `plugin "${plugin}" did not answer ${rpc} in time`, details, {
        cause: err,
      });
    // We cancelled the call (job cancel or timeout); callers normally handle this before us.
    case GrpcStatus.CANCELLED:
      return new DroverError("plugin_call", `${rpc} on plugin "${plugin}" was cancelled`, details, {
        cause: err,
      });
    // The plugin does not implement the method: wrong kind of plugin, an older protocol, or an
    // executor that leaves out Prepare or Cleanup (go-plugin's Unimplemented* embedding); the job
    // engine decides which of those is fine (`callFailure`).
    case GrpcStatus.UNIMPLEMENTED:
      return new DroverError(
        "plugin_call",
        `plugin "${plugin}" does not implement ${rpc}`,
        { ...details, callFailure: "unimplemented" },
        { cause: err },
      );
    // A message over the size limit: on our side ("Sent message larger than max") or the plugin's.
    // Sending it again cannot help (`callFailure`: not retried).
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return new DroverError(
        "plugin_call",
        `plugin "${plugin}": ${rpc}: a message is larger than the plugin protocol's limit of ${MAX_MESSAGE_BYTES / 1024 / 1024} MiB (${err.details})`,
        { ...details, callFailure: "too_large" },
        { cause: err },
      );
    // A message could not be decoded.
    case GrpcStatus.INTERNAL:
      return new DroverError(
        "plugin_call",
        `plugin "${plugin}": ${rpc} broke the protocol: ${err.details}`,
        details,
        { cause: err },
      );
    // The handler threw: its message is the detail.
    default:
      return new DroverError(
        "plugin_call",
        `plugin "${plugin}": ${rpc} failed: ${err.details || err.message}`,
        details,
        { cause: err },
      );
  }
}
