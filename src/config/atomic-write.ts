/**
 * Replacing a file next to config.toml (config.toml itself, `.runner_system_id`) so that a reader
 * sees either the old content or the new, never half of it, even if drover or the host dies in the
 * middle: the new content goes into a temporary file in the same directory (created exclusively,
 * with its final mode, synced to disk), which is then renamed over the old one, and the directory
 * is synced. A rename in one directory is atomic on POSIX file systems.
 *
 * A symbolic link is followed: its target is replaced and the link kept. When root replaces a file
 * owned by someone else (`drover register` run with sudo on the drover user's file), the new file
 * keeps the old one's owner, as GitLab Runner's in-place write does; otherwise drover's user could
 * no longer read its own config.
 */

import { randomBytes } from "node:crypto";
import {
  closeSync,
  fchmodSync,
  fchownSync,
  fsyncSync,
  openSync,
  realpathSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { DroverError } from "../../kernel/errors.ts";

/**
 * Writes `content` to `path` atomically with `mode` (0600 for files holding tokens). A new file
 * written by root is given `ownerLike`'s owner when that is not root: `sudo drover register` creates
 * `.runner_system_id` for the user whose config.toml it is, who could not read it otherwise. Throws
 * DroverError("config_invalid") naming the file and the reason; then `path` is unchanged and no
 * temporary file is left behind.
 */
export function writeFileAtomic(
  path: string,
  content: string,
  mode: number,
  options: { ownerLike?: string } = {},
): void {
  const target = resolveTarget(path);
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${randomBytes(6).toString("hex")}.tmp`);
  // A new file written by root takes the owner of `ownerLike` (config.toml for the files beside it).
  const previous =
    statOrUndefined(target) ??
    (options.ownerLike === undefined ? undefined : statOrUndefined(options.ownerLike));
  let fd: number | undefined;
  try {
    fd = openSync(temp, "wx", mode);
    fchmodSync(fd, mode); // the umask may have taken bits away
    if (previous && process.getuid?.() === 0 && previous.uid !== 0)
      fchownSync(fd, previous.uid, previous.gid);
    const bytes = Buffer.from(content, "utf8");
    for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, target);
  } catch (err) {
    for (const undo of [() => fd !== undefined && closeSync(fd), () => unlinkSync(temp)]) {
      try {
        undo();
      } catch {
        // never opened or created, or already renamed
      }
    }
    throw new DroverError(
      "config_invalid",
      `cannot write ${JSON.stringify(target)}: ${reason(err)}`,
      { file: target },
      { cause: err },
    );
  }
  syncDirectory(dir);
}

/** The file a write to `path` replaces: the target of a symbolic link, else `path` itself. */
function resolveTarget(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    // Not there yet (a new file), or a dangling link: write `path` itself.
    return path;
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Makes the rename durable. Some file systems cannot sync a directory: the rename happened anyway. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // EISDIR/EINVAL/EPERM on some file systems: nothing more can be done
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** An errno code with its meaning, or the message. */
function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "EACCES":
    case "EPERM":
      return `${code} (permission denied: drover's user must be able to write the directory)`;
    case "ENOSPC":
      return `${code} (no space left on the device)`;
    case "EROFS":
      return `${code} (read-only file system)`;
    case "ENOENT":
      return `${code} (the directory does not exist)`;
    default:
      return code ?? (err instanceof Error ? err.message : String(err));
  }
}
