/**
 * The typed clients of the two plugin services, as the job engine uses them: over a plugin's gRPC
 * connection (src/plugin/host.ts) or in the same process (in-process.ts, for tests and for plugin
 * authors testing their handlers).
 */
import type { Executor } from "../gen/drover/plugin/v1/executor_pb.ts";
import type { Lifecycle } from "../gen/drover/plugin/v1/lifecycle_pb.ts";
import type { MethodsOf, ServiceClient } from "./grpc-service.ts";

export type ExecutorClient = ServiceClient<MethodsOf<typeof Executor>>;
export type LifecycleClient = ServiceClient<MethodsOf<typeof Lifecycle>>;
