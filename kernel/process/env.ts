/**
 * Environment scrubbing for every child drover starts (plugins, drivers, hooks, job scripts).
 *
 * Removed: variables that would change how a Bun/Node child behaves (a compiled drover binary with
 * BUN_BE_BUN set acts as `bun` itself) and the plugin-protocol variables, which only the plugin
 * launcher sets, for the plugin it launches and nothing below it.
 */
import { MAGIC_COOKIE_KEY, PROTOCOL_VERSIONS_ENV, SOCKET_DIR_ENV } from "../protocol/handshake.ts";

/**
 * Makes a compiled Bun executable (drover) act as `bun` itself. Scrubbed from every child; only
 * startChild's `embeddedRuntime` sets it, for the one child it starts that way (child.ts).
 */
export const EMBEDDED_RUNTIME_ENV = "BUN_BE_BUN";

export const SCRUBBED_VARIABLES: readonly string[] = [
  "BUN_OPTIONS",
  EMBEDDED_RUNTIME_ENV,
  "NODE_OPTIONS",
  MAGIC_COOKIE_KEY,
  PROTOCOL_VERSIONS_ENV,
  SOCKET_DIR_ENV,
];

/**
 * Every process drover starts carries this variable; plugins pass it on to what they start. On exit
 * (and when a plugin dies) drover finds the processes that still carry its tag and kills them, so
 * that a crashed plugin's job processes are not left behind (see process/sweep.ts).
 */
export const PROCESS_TAG_ENV = "DROVER_PROCESS_TAG";

/**
 * Every process a job starts carries this variable, set by drover after the job's own (a job cannot
 * choose it): when the job ends, drover kills whatever still carries its value (kernel/process/
 * sweep.ts), as GitHub's runner does with RUNNER_TRACKING_ID. A job can remove it from a process's
 * environment; the job's cgroup, where the host has one, is what it cannot leave that way.
 */
export const JOB_TRACKING_ENV = "DROVER_JOB_TRACKING_ID";

export type Env = Record<string, string>;

/** `base` without the scrubbed variables and without undefined values. */
export function scrubEnv(base: Record<string, string | undefined>): Env {
  const env: Env = {};
  for (const [key, value] of Object.entries(base)) {
    if (value === undefined || SCRUBBED_VARIABLES.includes(key)) continue;
    env[key] = value;
  }
  return env;
}
