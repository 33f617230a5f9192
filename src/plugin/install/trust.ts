/**
 * The one place that decides whether a plugin may be launched, and what exactly is executed
 * (docs/installing-plugins.md, "Checks before every launch"; docs/security.md). Anything wrong
 * refuses the launch, naming the plugin and the file.
 *
 *  - Every plugin file, the plugin lock and every directory from `/` down to them must be owned by
 *    root or drover's user and writable by nobody else (kernel/files/trusted-path.ts, OpenSSH's
 *    StrictModes): another local user must not be able to change or swap what drover runs.
 *  - An installed plugin's directory must hold exactly the files its lock entry lists, each with the
 *    SHA-256 recorded at install: a file added, removed or changed after install refuses the launch.
 *  - The bytes checked are the bytes executed. A one-file plugin is opened (O_NOFOLLOW), checked
 *    through that descriptor and executed through it (`/proc/<drover>/fd/<n>`): renaming another
 *    file into its place afterwards changes nothing. A plugin of several files (an interpreter and
 *    its modules), and a script run on drover's runtime (which opens it by path), is copied,
 *    checked while it is copied, into the launch's private dir (0700), and run from there.
 *  - Checking is cheap when nothing changed: the lock records each file's inode, size and change
 *    times at install, and a file whose descriptor still shows them is the file that was hashed
 *    (its content cannot change without its ctime changing). Otherwise the file is hashed again.
 */
import { createHash } from "node:crypto";
import {
  type BigIntStats,
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  type Stats,
  writeSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { DroverError } from "../../../kernel/errors.ts";
import { describeTrustProblem, pathTrustProblems } from "../../../kernel/files/trusted-path.ts";

/** What identifies one version of a file's content without reading it (see the header). */
export interface FileStamp {
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

export interface Integrity {
  /** The installed plugin's directory and the digests recorded for it. */
  dir: string;
  files: Record<string, string>;
  /** The stamps recorded at install; absent in locks written by older drovers (then: hash). */
  stamps?: Record<string, FileStamp>;
  /** The lock file the entry comes from (checked like the plugin's files). */
  lock: string;
}

/** How to start a plugin that passed its checks. */
export interface LaunchTarget {
  command: string;
  /** Releases what the launch holds (a descriptor): call once the process has started or failed. */
  release(): void;
}

function refuse(plugin: string, message: string, file: string): DroverError {
  return new DroverError("plugin_launch", `refusing to start plugin "${plugin}": ${message}`, {
    plugin,
    file,
  });
}

/** The StrictModes rule for one path (the file and its directories). */
export function checkTrusted(plugin: string, path: string): void {
  const problem = pathTrustProblems(path)[0];
  if (problem) throw refuse(plugin, describeTrustProblem(problem), problem.path);
}

export function stampOf(stat: BigIntStats): FileStamp {
  return {
    dev: String(stat.dev),
    ino: String(stat.ino),
    size: String(stat.size),
    mtimeNs: String(stat.mtimeNs),
    ctimeNs: String(stat.ctimeNs),
  };
}

function sameStamp(a: FileStamp | undefined, b: FileStamp): boolean {
  return (
    a !== undefined &&
    a.dev === b.dev &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs
  );
}

/**
 * Checks a plugin and says how to run exactly what was checked. `privateDir` (0700, the launch's
 * own) receives the copy of a plugin of several files, and of a script (`copy`): a runtime opens a
 * script by its path, which must be a path nobody but drover can change.
 */
export function prepareLaunch(
  plugin: string,
  executable: string,
  integrity: Integrity | undefined,
  privateDir: string,
  options: { copy: boolean } = { copy: false },
): LaunchTarget {
  checkTrusted(plugin, executable);
  if (!integrity) return { command: executable, release() {} };
  checkTrusted(plugin, integrity.lock);
  checkTrusted(plugin, integrity.dir);
  checkListedFiles(plugin, integrity);
  const relativeExecutable = relative(integrity.dir, executable);
  const names = Object.keys(integrity.files);
  if (!options.copy && names.length === 1 && names[0] === relativeExecutable) {
    const fd = openVerified(plugin, integrity, relativeExecutable, { useStamp: true });
    return { command: `/proc/${process.pid}/fd/${fd}`, release: () => closeSync(fd) };
  }
  const copy = join(privateDir, "plugin");
  mkdirSync(copy, { mode: 0o700 });
  for (const name of names) copyVerified(plugin, integrity, name, join(copy, name));
  return { command: join(copy, relativeExecutable), release() {} };
}

/**
 * Every check, every byte hashed (no stamps): `drover plugin verify`. Throws on the first problem.
 */
export function verifyInstalled(plugin: string, executable: string, integrity: Integrity): void {
  checkTrusted(plugin, executable);
  checkTrusted(plugin, integrity.lock);
  checkTrusted(plugin, integrity.dir);
  checkListedFiles(plugin, integrity);
  for (const name of Object.keys(integrity.files)) {
    closeSync(openVerified(plugin, integrity, name, { useStamp: false }));
  }
}

/**
 * The plugin's directory holds exactly the files the lock lists (regular files and directories,
 * no links), each owned by drover's user or root and writable by nobody else.
 */
function checkListedFiles(plugin: string, integrity: Integrity): void {
  const listed = new Set(Object.keys(integrity.files));
  const seen = new Set<string>();
  const walk = (dir: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch (err) {
      throw refuse(plugin, `${dir} cannot be read (${(err as NodeJS.ErrnoException).code})`, dir);
    }
    for (const entry of entries) {
      const path = join(dir, entry);
      const name = relative(integrity.dir, path);
      const stat = lstatSync(path);
      if (stat.isDirectory()) {
        checkOwnerAndMode(plugin, path, stat);
        walk(path);
      } else if (stat.isFile() && listed.has(name)) {
        checkOwnerAndMode(plugin, path, stat);
        seen.add(name);
      } else {
        throw refuse(
          plugin,
          `${path} is not part of the installed plugin (its lock entry lists ${listed.size} file(s)); remove it, or reinstall the plugin with drover plugin install`,
          path,
        );
      }
    }
  };
  walk(integrity.dir);
  for (const name of listed) {
    if (!seen.has(name)) {
      throw refuse(
        plugin,
        `${join(integrity.dir, name)} is missing (reinstall the plugin with drover plugin install)`,
        join(integrity.dir, name),
      );
    }
  }
}

function checkOwnerAndMode(plugin: string, path: string, stat: Stats): void {
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid && stat.uid !== 0) {
    throw refuse(
      plugin,
      `${path} is owned by uid ${stat.uid}, not by root or drover's user (uid ${uid})`,
      path,
    );
  }
  if (stat.mode & 0o022) {
    const who = stat.mode & 0o002 ? "world" : "group";
    throw refuse(
      plugin,
      `${path} is ${who}-writable (mode ${(stat.mode & 0o7777).toString(8).padStart(4, "0")}); fix with: chmod go-w ${path}`,
      path,
    );
  }
}

/** Opens a listed file (O_NOFOLLOW, a regular file); returns the descriptor and its stamp. */
function openListed(plugin: string, path: string): { fd: number; stamp: FileStamp } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    throw refuse(plugin, `${path} cannot be opened (${(err as NodeJS.ErrnoException).code})`, path);
  }
  const stat = fstatSync(fd, { bigint: true });
  if (!stat.isFile()) {
    closeSync(fd);
    throw refuse(plugin, `${path} is not a regular file`, path);
  }
  return { fd, stamp: stampOf(stat) };
}

/** Opens a listed file and checks it through the descriptor; returns the descriptor. */
function openVerified(
  plugin: string,
  integrity: Integrity,
  name: string,
  options: { useStamp: boolean },
): number {
  const path = join(integrity.dir, name);
  const { fd, stamp } = openListed(plugin, path);
  try {
    if (!(options.useStamp && sameStamp(integrity.stamps?.[name], stamp))) {
      mismatch(plugin, path, integrity.files[name], hashDescriptor(fd, undefined));
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Copies a listed file into the private copy, hashing the very bytes it copies, unless its
 * descriptor shows the stamp recorded at install (then its content is what was hashed then).
 */
function copyVerified(plugin: string, integrity: Integrity, name: string, target: string): void {
  const path = join(integrity.dir, name);
  const { fd, stamp } = openListed(plugin, path);
  try {
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    const out = openSync(
      target,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      if (sameStamp(integrity.stamps?.[name], stamp)) copyDescriptor(fd, out);
      else mismatch(plugin, path, integrity.files[name], hashDescriptor(fd, out));
    } finally {
      closeSync(out);
    }
    chmodSync(target, fstatSync(fd).mode & 0o700);
  } finally {
    closeSync(fd);
  }
}

const CHUNK = 1024 * 1024;

/** SHA-256 of what `fd` holds, read from its start; written on to `copyTo` as it is read. */
function hashDescriptor(fd: number, copyTo: number | undefined): string {
  const hash = createHash("sha256");
  readDescriptor(fd, (chunk) => {
    hash.update(chunk);
    if (copyTo !== undefined) writeSync(copyTo, chunk);
  });
  return hash.digest("hex");
}

/** Copies what `fd` holds, from its start, to `to`. */
function copyDescriptor(fd: number, to: number): void {
  readDescriptor(fd, (chunk) => writeSync(to, chunk));
}

/** Reads `fd` from its start in chunks (the chunk is reused: use it before returning). */
function readDescriptor(fd: number, each: (chunk: Buffer) => void): void {
  const buffer = Buffer.allocUnsafe(CHUNK);
  for (let position = 0; ; ) {
    const n = readSync(fd, buffer, 0, CHUNK, position);
    if (n === 0) break;
    each(buffer.subarray(0, n));
    position += n;
  }
}

function mismatch(plugin: string, path: string, expected: string | undefined, actual: string): void {
  if (actual === expected) return;
  throw refuse(
    plugin,
    `SHA-256 mismatch for ${path}: installed as ${expected}, now ${actual}; the file changed after install (reinstall it with drover plugin install, or check who modified it)`,
    path,
  );
}
