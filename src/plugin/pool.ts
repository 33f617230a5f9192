/**
 * All plugin processes of one drover process, one per plugin command line: runners and jobs that
 * name the same plugin share it (README.md, "Architecture": long-lived, reused, several jobs at once).
 */
import type { Logger } from "../log/logger.ts";
import { PluginHost } from "./host.ts";
import type { PluginSpec } from "./spec.ts";

export class PluginPool {
  #hosts = new Map<string, PluginHost>();
  #logger: Logger;
  #handshakeTimeoutMs: number;

  constructor(options: { logger: Logger; handshakeTimeoutMs: number }) {
    this.#logger = options.logger;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs;
  }

  /** The host for `spec`, created on first use (the process starts on its first call). */
  host(spec: PluginSpec): PluginHost {
    let host = this.#hosts.get(spec.key);
    if (!host) {
      host = new PluginHost(spec, { logger: this.#logger, handshakeTimeoutMs: this.#handshakeTimeoutMs });
      this.#hosts.set(spec.key, host);
    }
    return host;
  }

  /**
   * Graceful stop of every plugin, in parallel. `because` is what a call still in flight is told
   * (`plugin "x" was stopped by drover: <because>`); by default, that drover is shutting down.
   */
  async shutdown(because?: string): Promise<void> {
    await Promise.all([...this.#hosts.values()].map((host) => host.shutdown(because)));
  }

  /**
   * SIGKILL every plugin now. `because` is what the calls in flight are told; by default, that the
   * run was aborted (a second Ctrl-C, drover run's forced exit).
   */
  kill(because?: string): void {
    for (const host of this.#hosts.values()) host.kill(because);
  }

  get hosts(): readonly PluginHost[] {
    return [...this.#hosts.values()];
  }
}
