/**
 * The last promise of README.md's "Architecture" ("on every exit path of the core no plugin process and no job process
 * is left behind"): if a bug escapes as an uncaught exception or an unhandled rejection in a
 * command that runs jobs, kill every child group and every tagged process before exiting.
 */

import { killAllChildren, processTag } from "../../kernel/process/child.ts";
import { sweepTaggedProcesses } from "../../kernel/process/sweep.ts";
import type { Logger } from "../log/logger.ts";

let installed = false;

/** Idempotent: one guard per process, whatever the number of services (the daemon reloads). */
export function installCrashGuard(logger: Logger): void {
  if (installed) return;
  installed = true;
  const die = (err: unknown, kind: string) => {
    logger.fatal({ err }, `${kind}: killing every child process and exiting`);
    killAllChildren();
    sweepTaggedProcesses(processTag());
    process.stderr.write(
      `drover: internal error (${kind}): ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(2);
  };
  process.on("uncaughtException", (err) => die(err, "uncaught exception"));
  process.on("unhandledRejection", (reason) => die(reason, "unhandled rejection"));
}
