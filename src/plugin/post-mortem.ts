/**
 * What a plugin leaves behind when its process is gone, removed: job processes it started (in
 * process groups only it knew; found by their tag), its socket dir, the socket it announced outside
 * that dir, and the temp dirs it could not remove (a job's scripts, its JSON: faults suite,
 * plugin-faults.test.ts "SIGKILL of the plugin during Run"). Never throws: it runs in an exit
 * handler, where a throw would crash the core.
 */
import { lstatSync, rmSync, unlinkSync } from "node:fs";
import { removeStaleTempDirs } from "../../kernel/process/owned-temp-dirs.ts";
import { sweepTaggedProcesses } from "../../kernel/process/sweep.ts";
import type { Logger } from "../log/logger.ts";
import type { LaunchedPlugin } from "./launch.ts";

export function cleanUpAfterPlugin(launched: LaunchedPlugin, logger: Logger): void {
  // First, and on its own: nothing below may keep it from running.
  const swept = sweepTaggedProcesses(launched.tag);
  if (swept) logger.warn({ processes: swept }, "killed processes left behind by the plugin");
  try {
    const socket = removeAnnouncedSocket(launched);
    if (socket) logger.info({ socket }, "removed the socket the plugin left behind");
  } catch (err) {
    logger.warn({ err }, "could not remove the plugin's socket");
  }
  try {
    rmSync(launched.socketDir, { recursive: true, force: true });
    const stale = removeStaleTempDirs();
    if (stale.length) logger.info({ dirs: stale }, "removed temp dirs left behind by the plugin");
  } catch (err) {
    logger.warn({ err }, "could not remove the plugin's temp dirs");
  }
}

/**
 * Removes the unix socket a dead plugin announced in its handshake when it lies outside the socket
 * dir drover gave it (that dir goes whole). go-plugin before 1.5 ignores PLUGIN_UNIX_SOCKET_DIR and
 * listens on `$TMPDIR/plugin<random>`; it removes that file itself when it stops gracefully, but not
 * when it is killed (abort, SIGKILL, a crash), and /tmp fills up with them
 * (test/e2e/go-plugin.test.ts, "abort").
 *
 * Only the exact path announced, only while it is still a socket (lstat: a symlink put there is not
 * followed) owned by drover's user: never a directory, never a file someone else put there since.
 * In a sticky /tmp only that user (or root) can replace an entry they own, so the check and the
 * unlink cannot be raced by another user. Returns the path removed, if any.
 */
export function removeAnnouncedSocket(
  launched: Pick<LaunchedPlugin, "handshake" | "socketDir">,
): string | undefined {
  const address = launched.handshake.address;
  if (address.network !== "unix" || address.path.startsWith(`${launched.socketDir}/`)) return undefined;
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(address.path);
  } catch {
    return undefined; // gone already: the plugin removed it (a graceful stop)
  }
  if (!stat.isSocket() || stat.uid !== process.getuid?.()) return undefined;
  unlinkSync(address.path);
  return address.path;
}
