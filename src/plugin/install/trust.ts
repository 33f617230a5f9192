/**
 * Checks a plugin before every launch (docs/installing-plugins.md, "Checks before every launch"): its files must be owned by drover's user and
 * writable by nobody else, and an installed plugin's files must still have the SHA-256 recorded at
 * install. Anything else refuses the launch, naming the plugin and the file.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { DroverError } from "../../../kernel/errors.ts";
import { sha256File } from "./digest.ts";

export interface Integrity {
  /** The installed plugin's directory and the digests recorded for it. */
  dir: string;
  files: Record<string, string>;
}

function refuse(plugin: string, message: string, file: string): DroverError {
  return new DroverError("plugin_launch", `refusing to start plugin "${plugin}": ${message}`, {
    plugin,
    file,
  });
}

/** Ownership and mode of one file: not group/world-writable, owned by this user. */
export function checkFilePermissions(plugin: string, path: string): void {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch (err) {
    throw refuse(
      plugin,
      `${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      path,
    );
  }
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw refuse(plugin, `${path} is owned by uid ${stat.uid}, not by drover's user (uid ${uid})`, path);
  }
  if (stat.mode & 0o022) {
    const who = stat.mode & 0o002 ? "world" : "group";
    throw refuse(
      plugin,
      `${path} is ${who}-writable (mode ${(stat.mode & 0o777).toString(8)}); fix with: chmod go-w ${path}`,
      path,
    );
  }
}

/** Everything before a launch: permissions of the executable, and for installed plugins every file's hash. */
export function checkBeforeLaunch(
  plugin: string,
  executable: string,
  integrity: Integrity | undefined,
): void {
  checkFilePermissions(plugin, executable);
  if (!integrity) return;
  for (const [relative, expected] of Object.entries(integrity.files)) {
    const path = join(integrity.dir, relative);
    checkFilePermissions(plugin, path);
    const actual = sha256File(path);
    if (actual !== expected) {
      throw refuse(
        plugin,
        `SHA-256 mismatch for ${path}: installed as ${expected}, now ${actual}; the file changed after install (reinstall it with drover plugin install, or check who modified it)`,
        path,
      );
    }
  }
}
