/**
 * The lock file of installed plugins (`<plugin dir>/drover-plugins.lock`, JSON): name, version,
 * kind, protocol versions, where the executable is, and the SHA-256 of every file, checked again
 * before each launch. Written atomically (temp file + rename): an interrupted write leaves the
 * previous lock.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { DroverError } from "../../../kernel/errors.ts";
import type { FileStamp, Integrity } from "./trust.ts";

export interface InstalledPlugin {
  name: string;
  version: string;
  kind: "executor" | "lifecycle";
  protocolVersions: number[];
  /** The plugin's own directory: `<plugin dir>/<name>/<version>`. */
  dir: string;
  /** Absolute path of the executable (or, with `runtime: "drover"`, the script), inside `dir`. */
  executable: string;
  /**
   * "drover": `executable` is a JavaScript bundle run on drover's embedded runtime (a TypeScript or
   * JavaScript plugin, bundled at install). Absent: `executable` is executed.
   */
  runtime?: "drover";
  /** SHA-256 of the executable. */
  sha256: string;
  /** SHA-256 of every file in `dir` (relative path → hex digest). */
  files: Record<string, string>;
  /** Where it was installed from; absent in older locks. */
  source?: SourceRecord;
  /** Each file's inode, size and change times at install (trust.ts); absent in older locks. */
  stamps?: Record<string, FileStamp>;
  installedAt: string;
}

/**
 * Where an installed plugin came from (src/plugin/source): what `drover plugin sync` compares with
 * config.toml's `source`, and, for a download, what it was and its digest.
 */
export interface SourceRecord {
  /** The source as given (a local path made absolute, a URL without its #sha256 pin, `npm:NAME@RANGE`). */
  specifier: string;
  /** npm: the package and version the range resolved to, `@acme/drover-lxd@1.2.0`. */
  package?: string;
  /** A download: the tarball's URL. */
  tarball?: string;
  /** A download: its digest as SRI (`sha512-...` from the registry, `sha256-...` from a pin). */
  integrity?: string;
  /** npm `[platform_packages]`: the package installed for this host, checked the same way. */
  platformPackage?: { package: string; tarball: string; integrity: string };
}

/** What the launch checks of an installed plugin need from its lock entry. */
export function integrityOf(entry: InstalledPlugin, lockFile: string): Integrity {
  return {
    dir: entry.dir,
    files: entry.files,
    ...(entry.stamps ? { stamps: entry.stamps } : {}),
    lock: lockFile,
  };
}

export interface LockFile {
  lockfileVersion: 1;
  plugins: InstalledPlugin[];
}

export function emptyLock(): LockFile {
  return { lockfileVersion: 1, plugins: [] };
}

/** Reads the lock; no file is an empty lock; a corrupt one is a clear error, never a stack trace. */
export function readLock(path: string): LockFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyLock();
    throw new DroverError(
      "config_invalid",
      `cannot read the plugin lock file ${path}: ${(err as Error).message}`,
      { file: path },
    );
  }
  const corrupt = (why: string) =>
    new DroverError(
      "config_invalid",
      `the plugin lock file ${path} is corrupt (${why}); reinstall the plugins, or remove the file to start over`,
      { file: path },
    );
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw corrupt(`not JSON: ${(err as Error).message}`);
  }
  if (
    typeof doc !== "object" ||
    doc === null ||
    (doc as LockFile).lockfileVersion !== 1 ||
    !Array.isArray((doc as LockFile).plugins)
  ) {
    throw corrupt('expected {"lockfileVersion": 1, "plugins": [...]}');
  }
  const plugins = (doc as LockFile).plugins;
  plugins.forEach((p, i) => {
    const ok =
      typeof p === "object" &&
      p !== null &&
      typeof p.name === "string" &&
      typeof p.version === "string" &&
      (p.kind === "executor" || p.kind === "lifecycle") &&
      typeof p.dir === "string" &&
      typeof p.executable === "string" &&
      typeof p.sha256 === "string" &&
      (p.runtime === undefined || p.runtime === "drover") &&
      (p.source === undefined || (typeof p.source === "object" && typeof p.source?.specifier === "string")) &&
      typeof p.files === "object" &&
      p.files !== null &&
      Array.isArray(p.protocolVersions);
    if (!ok) throw corrupt(`plugins[${i}] is not a complete entry`);
  });
  return doc as LockFile;
}

export function writeLock(path: string, lock: LockFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const temp = `${path}.${process.pid}.tmp`;
  const sorted = [...lock.plugins].sort(
    (a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version),
  );
  writeFileSync(temp, `${JSON.stringify({ ...lock, plugins: sorted }, null, 2)}\n`, { mode: 0o644 });
  renameSync(temp, path);
}
