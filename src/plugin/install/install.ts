/**
 * `drover plugin install PATH`: checks that PATH is a drover plugin by launching it once (handshake,
 * health, GetInfo), copies it into `<plugin dir>/<name>/<version>/`, and records it in the lock file.
 *
 * Atomic: the copy is prepared in a staging directory inside the plugin dir and renamed into place,
 * then the lock is rewritten by rename. An interrupted install leaves the previous state (and at
 * worst a `.staging-*` directory, removed by the next install).
 */
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { basename, join, resolve } from "node:path";
import semver from "semver";
import { DroverError } from "../../../kernel/errors.ts";
import { PluginKind } from "../../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
import { APP_PROTOCOL_VERSIONS } from "../../../kernel/protocol/handshake.ts";
import type { Logger } from "../../log/logger.ts";
import { PluginHost } from "../host.ts";
import { pluginSpec } from "../spec.ts";
import { digestTree, sha256File } from "./digest.ts";
import { type InstalledPlugin, readLock, writeLock } from "./lock.ts";
import { isValidPluginName, MANIFEST_FILE, type Manifest, readManifest } from "./manifest.ts";
import { lockPath } from "./plugin-dir.ts";
import { checkTrusted, type FileStamp, stampOf } from "./trust.ts";

export interface InstallOptions {
  source: string;
  /** `--name`: install under this name instead of the one the plugin reports. */
  name?: string;
  pluginDir: string;
  logger: Logger;
  handshakeTimeoutMs: number;
}

export async function installPlugin(options: InstallOptions): Promise<InstalledPlugin> {
  const source = resolve(options.source);
  if (!existsSync(source))
    throw new DroverError("usage", `cannot install ${source}: no such file or directory`);
  const fromDirectory = statSync(source).isDirectory();
  const manifest = fromDirectory ? readManifest(source) : undefined;
  if (options.name !== undefined && !isValidPluginName(options.name)) {
    throw new DroverError(
      "usage",
      `--name ${JSON.stringify(options.name)} may contain only letters, digits, ".", "_" and "-"`,
    );
  }

  mkdirSync(options.pluginDir, { recursive: true, mode: 0o755 });
  removeStaleStaging(options.pluginDir);
  const staging = join(options.pluginDir, `.staging-${process.pid}-${Date.now()}`);
  try {
    // Copy first, then check the copy: what is launched and hashed is exactly what gets installed.
    mkdirSync(staging, { mode: 0o755 });
    const executableName = manifest ? manifest.executable : basename(source);
    if (fromDirectory) {
      rejectSymlinks(source);
      cpSync(source, staging, { recursive: true });
    } else {
      cpSync(source, join(staging, executableName));
    }
    stripWritePermissions(staging);
    const executable = join(staging, executableName);
    if (!existsSync(executable)) {
      throw new DroverError(
        "usage",
        `invalid plugin manifest ${join(source, MANIFEST_FILE)}: executable ${JSON.stringify(executableName)} does not exist`,
      );
    }
    checkTrusted(options.name ?? basename(source), executable);

    const info = await probe(executable, options);
    const kind =
      info.kind === PluginKind.EXECUTOR
        ? "executor"
        : info.kind === PluginKind.LIFECYCLE
          ? "lifecycle"
          : undefined;
    const refuse = (why: string) => new DroverError("plugin_launch", `refusing to install ${source}: ${why}`);
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
      sha256: sha256File(join(finalDir, executableName)),
      files,
      stamps: stampsOf(finalDir, files),
      installedAt: new Date().toISOString(),
    };
    const path = lockPath(options.pluginDir);
    const lock = readLock(path);
    lock.plugins = lock.plugins.filter((p) => !(p.name === name && p.version === info.version));
    lock.plugins.push(entry);
    writeLock(path, lock);
    return entry;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Launches the candidate once: handshake + health + GetInfo, then a graceful shutdown. */
async function probe(executable: string, options: InstallOptions) {
  const host = new PluginHost(pluginSpec(options.name ?? basename(executable), executable), {
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

function rejectSymlinks(root: string): void {
  for (const entry of readdirSync(root, { recursive: true }) as string[]) {
    if (lstatSync(join(root, entry)).isSymbolicLink()) {
      throw new DroverError(
        "usage",
        `cannot install ${root}: ${entry} is a symbolic link; a plugin directory must hold only regular files`,
      );
    }
  }
}

function removeStaleStaging(dir: string): void {
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith(".staging-")) rmSync(join(dir, entry), { recursive: true, force: true });
  }
}
