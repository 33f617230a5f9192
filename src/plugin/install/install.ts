/**
 * `drover plugin install PATH`: copies PATH (an executable, or a directory with a manifest) into
 * `<plugin dir>/<name>/<version>/`, or bundles it there when it is a TypeScript or JavaScript plugin
 * (runtime/bundle-plugin.ts); checks that the result is a drover plugin by launching it once
 * (handshake, health, GetInfo); and records it in the lock file.
 *
 * Atomic: the copy is prepared in a staging directory inside the plugin dir and renamed into place,
 * then the lock is rewritten by rename. An interrupted install leaves the previous state (and at
 * worst a `.staging-*` directory, removed by the next install).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import semver from "semver";
import { DroverError } from "../../../kernel/errors.ts";
import { PluginKind } from "../../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
import { APP_PROTOCOL_VERSIONS } from "../../../kernel/protocol/handshake.ts";
import type { Logger } from "../../log/logger.ts";
import { PluginHost } from "../host.ts";
import { fetchSource } from "../source/fetch-source.ts";
import type { Registry } from "../source/npm-registry.ts";
import { parseSpecifier, type SourceSpecifier, SpecifierError } from "../source/specifier.ts";
import { type PluginRuntime, pluginSpec } from "../spec.ts";
import { digestTree, sha256File } from "./digest.ts";
import { withPluginDirLock } from "./dir-lock.ts";
import { type LocalSource, localSource, stage } from "./local-source.ts";
import { type InstalledPlugin, type LockFile, readLock, type SourceRecord, writeLock } from "./lock.ts";
import { isValidPluginName, type Manifest } from "./manifest.ts";
import { lockPath } from "./plugin-dir.ts";
import { checkTrusted, type FileStamp, stampOf } from "./trust.ts";

export interface InstallOptions {
  /** A source specifier (source/specifier.ts): a local path, a pinned URL, `npm:NAME@RANGE`. */
  source: string;
  /** `--sha256`: the pin of a URL source. */
  sha256?: string;
  /** `--name`: install under this name instead of the one the plugin reports. */
  name?: string;
  pluginDir: string;
  /** Where `npm:` sources are resolved. */
  registry: Registry;
  logger: Logger;
  handshakeTimeoutMs: number;
}

export function installPlugin(options: InstallOptions): Promise<InstalledPlugin> {
  return withPluginDirLock(options.pluginDir, () => install(options));
}

async function install(options: InstallOptions): Promise<InstalledPlugin> {
  const specifier = parseSource(options.source);
  if (options.name !== undefined && !isValidPluginName(options.name)) {
    throw new DroverError(
      "usage",
      `--name ${JSON.stringify(options.name)} may contain only letters, digits, ".", "_" and "-"`,
    );
  }
  if (options.sha256 !== undefined && specifier.kind !== "url")
    throw new DroverError(
      "usage",
      "--sha256 pins a URL source; npm packages are checked against the registry's integrity, local files need none",
    );
  if (specifier.kind === "path" && !existsSync(specifier.path))
    throw new DroverError("usage", `cannot install ${specifier.path}: no such file or directory`);

  mkdirSync(options.pluginDir, { recursive: true, mode: 0o755 });
  removeStaleStaging(options.pluginDir);
  const work = join(options.pluginDir, `.staging-${process.pid}-${Date.now()}`);
  try {
    mkdirSync(work, { mode: 0o700 });
    const lockFile = lockPath(options.pluginDir);
    const { local, record, label } =
      specifier.kind === "path"
        ? { local: localSource(specifier.path), record: { specifier: specifier.path }, label: specifier.path }
        : await fetched(specifier, options, join(work, "fetched"), readLock(lockFile));
    const manifest = local.kind === "file" ? undefined : local.manifest;
    const runtime: PluginRuntime = local.kind === "script" ? "drover" : "exec";

    // Copy (or bundle) first, then check the copy: what is launched and hashed is exactly what gets
    // installed.
    const staging = join(work, "plugin");
    mkdirSync(staging, { mode: 0o755 });
    const executableName = await stage(local, staging);
    stripWritePermissions(staging);
    const executable = join(staging, executableName);
    checkTrusted(options.name ?? manifest?.name ?? basename(executable), executable);

    const info = await probe(executable, runtime, options);
    const kind =
      info.kind === PluginKind.EXECUTOR
        ? "executor"
        : info.kind === PluginKind.LIFECYCLE
          ? "lifecycle"
          : undefined;
    const refuse = (why: string) => new DroverError("plugin_launch", `refusing to install ${label}: ${why}`);
    if (!kind) throw refuse("it reports no kind (executor or lifecycle) in GetInfo");
    if (!semver.valid(info.version))
      throw refuse(`its version ${JSON.stringify(info.version)} is not a semantic version`);
    const common = info.protocolVersions.filter((v) => APP_PROTOCOL_VERSIONS.includes(v));
    if (!common.length) {
      throw refuse(
        `no common plugin protocol version: drover speaks ${APP_PROTOCOL_VERSIONS.join(",")}, the plugin ${info.protocolVersions.join(",") || "none"}`,
      );
    }
    if (manifest)
      checkManifestAgainstInfo(manifest, { name: info.name, version: info.version, kind }, refuse);
    const name = options.name ?? manifest?.name ?? info.name;
    if (!isValidPluginName(name))
      throw refuse(
        `its name ${JSON.stringify(name)} is not usable as a directory name; give one with --name`,
      );

    const finalDir = join(options.pluginDir, name, info.version);
    mkdirSync(join(options.pluginDir, name), { recursive: true, mode: 0o755 });
    const files = digestTree(staging);
    const previous = existsSync(finalDir) ? `${finalDir}.old-${process.pid}` : undefined;
    if (previous) renameSync(finalDir, previous);
    renameSync(staging, finalDir);
    if (previous) rmSync(previous, { recursive: true, force: true });

    const entry: InstalledPlugin = {
      name,
      version: info.version,
      kind,
      protocolVersions: info.protocolVersions,
      dir: finalDir,
      executable: join(finalDir, executableName),
      ...(runtime === "drover" ? { runtime } : {}),
      source: record,
      sha256: sha256File(join(finalDir, executableName)),
      files,
      stamps: stampsOf(finalDir, files),
      installedAt: new Date().toISOString(),
    };
    const lock = readLock(lockFile);
    lock.plugins = lock.plugins.filter((p) => !(p.name === name && p.version === info.version));
    lock.plugins.push(entry);
    writeLock(lockFile, lock);
    return entry;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function parseSource(text: string): SourceSpecifier {
  try {
    return parseSpecifier(text);
  } catch (err) {
    if (err instanceof SpecifierError) throw new DroverError("usage", `plugin source ${err.message}`);
    throw err;
  }
}

/** A URL or npm source, downloaded, verified and unpacked into `into`. */
async function fetched(
  specifier: Exclude<SourceSpecifier, { kind: "path" }>,
  options: InstallOptions,
  into: string,
  lock: LockFile,
): Promise<{ local: LocalSource; record: SourceRecord; label: string }> {
  const { dir, record } = await fetchSource(specifier, {
    into,
    registry: options.registry,
    lock,
    ...(options.sha256 === undefined ? {} : { sha256: options.sha256 }),
  });
  const found = localSource(dir);
  if (found.kind === "file") throw new Error("a fetched source is a directory");
  const local: LocalSource = found.kind === "script" ? { ...found, confineTo: dir } : found;
  return { local, record, label: record.package ?? record.specifier };
}

/** Launches the candidate once: handshake + health + GetInfo, then a graceful shutdown. */
async function probe(executable: string, runtime: PluginRuntime, options: InstallOptions) {
  const spec = pluginSpec(options.name ?? basename(executable), executable, [], undefined, runtime);
  const host = new PluginHost(spec, {
    logger: options.logger,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
  });
  try {
    return await host.start();
  } catch (err) {
    const error = DroverError.from(err);
    throw new DroverError(
      "plugin_launch",
      `refusing to install ${options.source}: it does not speak the drover plugin protocol: ${error.shortMessage}`,
      error.details,
      { cause: error },
    );
  } finally {
    await host.shutdown();
  }
}

function checkManifestAgainstInfo(
  manifest: Manifest,
  info: { name: string; version: string; kind: string },
  refuse: (why: string) => DroverError,
): void {
  if (manifest.version !== info.version) {
    throw refuse(`the manifest says version ${manifest.version}, the plugin reports ${info.version}`);
  }
  if (manifest.kind !== info.kind)
    throw refuse(`the manifest says kind ${manifest.kind}, the plugin reports ${info.kind}`);
}

/** Each installed file's stamp, taken after its last change (the rename into place changes none). */
function stampsOf(dir: string, files: Record<string, string>): Record<string, FileStamp> {
  const stamps: Record<string, FileStamp> = {};
  for (const name of Object.keys(files)) stamps[name] = stampOf(statSync(join(dir, name), { bigint: true }));
  return stamps;
}

/** The copy is drover's: nobody else may write it (the launch check refuses group/world-writable files). */
function stripWritePermissions(root: string): void {
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: false }) as string[]) {
    const path = join(root, entry);
    chmodSync(path, statSync(path).mode & 0o755);
  }
  chmodSync(root, 0o755);
}

/** Removes the staging dirs of installs whose process is gone (another install may be running). */
function removeStaleStaging(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const pid = /^\.staging-(\d+)-/.exec(entry)?.[1];
    if (pid === undefined) continue;
    if (Number(pid) !== process.pid && existsSync(`/proc/${pid}`)) continue;
    rmSync(join(dir, entry), { recursive: true, force: true });
  }
}
