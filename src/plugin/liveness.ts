/**
 * After drover cancels a call (job timeout, cancel), the plugin has LIVENESS_PROBE_MS to answer a
 * health check, or it is taken for hung and killed. A plugin whose event loop is stuck answers
 * nothing, neither the cancel nor after_script nor Cleanup: without this, the job would wait for each
 * of their own timeouts (minutes, an hour) instead of ending (test/e2e/faults/plugin-faults.test.ts,
 * "a plugin that hangs during Run"). Killing it fails every call in flight on it at once, and the
 * next call starts it again.
 */
import type * as grpc from "@grpc/grpc-js";
import { Health } from "../../kernel/gen/grpc/health/v1/health_pb.ts";
import { createClient } from "../../kernel/protocol/grpc-service.ts";
import { HEALTH_SERVICE_NAME } from "../../kernel/protocol/handshake.ts";
import type { Logger } from "../log/logger.ts";
import { translateCallError } from "./transport-errors.ts";

export const LIVENESS_PROBE_MS = 3_000;

export interface ProbeTarget {
  plugin: string;
  channel: grpc.Client;
  logger: Logger;
  /**
   * Whether the process is gone already, or drover is stopping it (shutdown, a hard abort): then
   * there is nothing to probe, and a health check that fails because drover is killing the plugin
   * must not be blamed on the plugin.
   */
  settled(): boolean;
  /** Kills the hung process; `because` becomes part of its death message. */
  kill(because: string): void;
}

export class LivenessProbe {
  readonly #target: ProbeTarget;
  #probing = false;

  constructor(target: ProbeTarget) {
    this.#target = target;
  }

  /** Starts a probe unless one is under way. */
  probe(): void {
    const target = this.#target;
    if (target.settled() || this.#probing) return;
    this.#probing = true;
    createClient(Health, target.channel)
      .check({ service: HEALTH_SERVICE_NAME }, { timeoutMs: LIVENESS_PROBE_MS })
      .then(
        () => {
          this.#probing = false;
        },
        (err: unknown) => {
          this.#probing = false;
          // Asked again now: a hard abort cancels the calls (which starts this probe) just before
          // drover kills every plugin, and that kill is what made the check fail.
          if (target.settled()) return;
          target.logger.error(
            { err: translateCallError(err, target.plugin, "Health/Check") },
            "plugin did not answer a health check after a call was cancelled; killing it",
          );
          target.kill(
            `killed by drover, it did not answer a health check within ${LIVENESS_PROBE_MS} ms after a call was cancelled`,
          );
        },
      );
  }
}
