/**
 * Turns a URL or npm source into a plugin directory on disk, verified before anything in it is
 * used (docs/installing-plugins.md, "Sources"):
 *
 *  - a URL must be pinned: `#sha256=` in the specifier, `--sha256`, or an earlier install of the
 *    same URL in the lock; the tarball's SHA-256 must be the pin;
 *  - an npm package is resolved in the registry, and its tarball must have the registry's sha512
 *    `dist.integrity`; a package whose manifest names `[platform_packages]` is replaced by the one
 *    for this host (same version), checked the same way.
 *
 * The directory is the archive's top (holding drover-plugin.toml), or its one top-level directory
 * (`package/` in an npm tarball). What the lock records about the source comes back with it.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DroverError } from "../../../kernel/errors.ts";
import { extractTarGz, TarError } from "../../archive/tar-extract.ts";
import type { LockFile, SourceRecord } from "../install/lock.ts";
import { MANIFEST_FILE, readManifest } from "../install/manifest.ts";
import { DownloadError, download } from "./download.ts";
import {
  formatIntegrity,
  type Integrity,
  integrityOfBytes,
  matches,
  parseIntegrity,
  sha256HexIntegrity,
} from "./integrity.ts";
import {
  type Registry,
  RegistryError,
  type ResolvedPackage,
  registryOptions,
  resolvePackage,
} from "./npm-registry.ts";
import { type SourceSpecifier, specifierKey } from "./specifier.ts";

export interface FetchOptions {
  /** An empty directory to unpack into (inside the plugin dir's staging area). */
  into: string;
  registry: Registry;
  /** `--sha256`. */
  sha256?: string;
  /** The current lock: a URL installed before is pinned by what it recorded. */
  lock: LockFile;
}

export interface Fetched {
  /** The plugin's directory, holding drover-plugin.toml. */
  dir: string;
  record: SourceRecord;
}

type Remote = Exclude<SourceSpecifier, { kind: "path" }>;

export async function fetchSource(source: Remote, options: FetchOptions): Promise<Fetched> {
  try {
    return source.kind === "url" ? await fetchUrl(source, options) : await fetchNpm(source, options);
  } catch (err) {
    if (err instanceof DownloadError || err instanceof RegistryError)
      throw new DroverError("plugin_source", `cannot install ${specifierKey(source)}: ${err.message}`);
    if (err instanceof TarError)
      throw new DroverError(
        "plugin_source",
        `cannot install ${specifierKey(source)}: its archive is refused: ${err.message}`,
      );
    throw err;
  }
}

async function fetchUrl(source: Extract<Remote, { kind: "url" }>, options: FetchOptions): Promise<Fetched> {
  const pinned = source.sha256 ?? options.sha256;
  const pin = pinned !== undefined ? sha256HexIntegrity(pinned) : lockedPin(options.lock, source.url);
  if (pin === undefined)
    throw new DroverError(
      "usage",
      `refusing to install ${source.url}: it is not pinned; give its SHA-256 with --sha256 HEX or as ${source.url}#sha256=HEX`,
    );
  const bytes = await download(source.url);
  verify(bytes, pin, source.url, "the pinned SHA-256");
  extractTarGz(bytes, options.into);
  return {
    dir: pluginRoot(options.into, source.url),
    record: { specifier: source.url, tarball: source.url, integrity: formatIntegrity(pin) },
  };
}

/** The pin an earlier install of `url` recorded. */
function lockedPin(lock: LockFile, url: string): Integrity | undefined {
  for (const plugin of lock.plugins) {
    if (plugin.source?.specifier === url && plugin.source.integrity) {
      const integrity = parseIntegrity(plugin.source.integrity);
      if (integrity) return integrity;
    }
  }
  return undefined;
}

async function fetchNpm(source: Extract<Remote, { kind: "npm" }>, options: FetchOptions): Promise<Fetched> {
  const resolved = await resolvePackage(options.registry, source.name, source.range);
  const dir = await unpackPackage(resolved, options.registry, join(options.into, "package"));
  const record: SourceRecord = {
    specifier: specifierKey(source),
    package: `${resolved.name}@${resolved.version}`,
    tarball: resolved.tarball,
    integrity: formatIntegrity(resolved.integrity),
  };
  const manifest = readManifest(dir);
  if (manifest.program.kind !== "platforms") return { dir, record };

  const platform = `${process.platform}-${process.arch}`;
  const name = manifest.program.packages[platform];
  if (name === undefined)
    throw new DroverError(
      "plugin_source",
      `cannot install ${record.specifier}: ${record.package} has no package for ${platform} (it has: ${Object.keys(manifest.program.packages).join(", ")})`,
    );
  const forHost = await resolvePackage(options.registry, name, resolved.version);
  const platformDir = await unpackPackage(forHost, options.registry, join(options.into, "platform"));
  const platformManifest = readManifest(platformDir);
  const same =
    platformManifest.program.kind === "executable" &&
    platformManifest.name === manifest.name &&
    platformManifest.version === manifest.version &&
    platformManifest.kind === manifest.kind;
  if (!same)
    throw new DroverError(
      "plugin_source",
      `cannot install ${record.specifier}: ${forHost.name}@${forHost.version}, its package for ${platform}, must hold a drover-plugin.toml with the same name, version and kind as ${record.package} and an executable`,
    );
  return {
    dir: platformDir,
    record: {
      ...record,
      platformPackage: {
        package: `${forHost.name}@${forHost.version}`,
        tarball: forHost.tarball,
        integrity: formatIntegrity(forHost.integrity),
      },
    },
  };
}

async function unpackPackage(resolved: ResolvedPackage, registry: Registry, into: string): Promise<string> {
  // The registry's token goes to the registry's origin only (a tarball may be served elsewhere).
  const bytes = await download(resolved.tarball, registryOptions(registry));
  verify(
    bytes,
    resolved.integrity,
    `${resolved.name}@${resolved.version} (${resolved.tarball})`,
    "the registry's integrity",
  );
  extractTarGz(bytes, into);
  return pluginRoot(into, `${resolved.name}@${resolved.version}`);
}

function verify(bytes: Uint8Array, expected: Integrity, what: string, whose: string): void {
  if (matches(bytes, expected)) return;
  throw new DroverError(
    "plugin_source",
    `refusing to install ${what}: it is not what was pinned: ${whose} is ${formatIntegrity(expected)}, the download is ${formatIntegrity(integrityOfBytes(bytes, expected.algorithm))}`,
  );
}

/** The unpacked archive's top, or its one top-level directory, whichever holds drover-plugin.toml. */
function pluginRoot(dir: string, what: string): string {
  if (existsSync(join(dir, MANIFEST_FILE))) return dir;
  const entries = readdirSync(dir);
  const only = entries.length === 1 ? join(dir, entries[0]!) : undefined;
  if (only && statSync(only).isDirectory() && existsSync(join(only, MANIFEST_FILE))) return only;
  throw new DroverError(
    "plugin_source",
    `cannot install ${what}: the archive has no ${MANIFEST_FILE} at its top or in its one top-level directory`,
  );
}
