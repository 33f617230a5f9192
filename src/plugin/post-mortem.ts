/**
 * What a plugin leaves behind when its process is gone, removed: job processes it started (in
 * process groups only it knew; found by their tag), its socket dir, and the temp dirs it could not
 * remove (a job's scripts, its JSON: faults suite, plugin-faults.test.ts "SIGKILL of the plugin
 * during Run"). Never throws: it runs in an exit handler, where a throw would crash the core.
 */
import { rmSync } from "node:fs";
import { removeStaleTempDirs } from "../../kernel/process/owned-temp-dirs.ts";
import { sweepTaggedProcesses } from "../../kernel/process/sweep.ts";
import type { Logger } from "../log/logger.ts";
import type { LaunchedPlugin } from "./launch.ts";

export function cleanUpAfterPlugin(launched: LaunchedPlugin, logger: Logger): void {
  // First, and on its own: nothing below may keep it from running.
  const swept = sweepTaggedProcesses(launched.tag);
  if (swept) logger.warn({ processes: swept }, "killed processes left behind by the plugin");
  try {
    rmSync(launched.socketDir, { recursive: true, force: true });
    const stale = removeStaleTempDirs();
    if (stale.length) logger.info({ dirs: stale }, "removed temp dirs left behind by the plugin");
  } catch (err) {
    logger.warn({ err }, "could not remove the plugin's temp dirs");
  }
}
