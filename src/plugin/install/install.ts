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
import {
  chmodSync,
  closeSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import semver from "semver";
import { DroverError } from "../../../kernel/errors.ts";
import { PluginKind } from "../../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
import { APP_PROTOCOL_VERSIONS } from "../../../kernel/protocol/handshake.ts";
import type { Logger } from "../../log/logger.ts";
import { PluginHost } from "../host.ts";
import { BUNDLE_FILE, bundlePlugin } from "../runtime/bundle-plugin.ts";
import { type PluginRuntime, pluginSpec } from "../spec.ts";
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
  if (options.name !== undefined && !isValidPluginName(options.name)) {
    throw new DroverError(
      "usage",
      `--name ${JSON.stringify(options.name)} may contain only letters, digits, ".", "_" and "-"`,
    );
  }
  const local = classifySource(source);
  const manifest = local.kind === "file" ? undefined : local.manifest;
  const runtime: PluginRuntime = local.kind === "script" ? "drover" : "exec";

  mkdirSync(options.pluginDir, { recursive: true, mode: 0o755 });
  removeStaleStaging(options.pluginDir);
  const staging = join(options.pluginDir, `.staging-${process.pid}-${Date.now()}`);
  try {
    // Copy (or bundle) first, then check the copy: what is launched and hashed is exactly what gets
    // installed.
    mkdirSync(staging, { mode: 0o755 });
    const executableName = await stage(local, staging);
    stripWritePermissions(staging);
    const executable = join(staging, executableName);
    checkTrusted(options.name ?? basename(source), executable);

    const info = await probe(executable, runtime, options);
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
      ...(runtime === "drover" ? { runtime } : {}),
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

/** What a local path holds, and so how it is installed (docs/installing-plugins.md, "Sources"). */
type LocalSource =
  /** An executable file, copied as is. */
  | { kind: "file"; file: string }
  /** A directory with a manifest naming its executable, copied as is. */
  | { kind: "directory"; dir: string; manifest: Manifest; executable: string }
  /** A TypeScript or JavaScript entry (a file, or a directory's manifest `main`), bundled. */
  | { kind: "script"; entry: string; manifest: Manifest | undefined };

/** What a script plugin's entry may be called; a file with a `#!` line is an executable instead. */
const SCRIPT_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs", ".jsx"]);

function classifySource(source: string): LocalSource {
  if (!statSync(source).isDirectory()) {
    return SCRIPT_EXTENSIONS.has(extname(source)) && !startsWithShebang(source)
      ? { kind: "script", entry: source, manifest: undefined }
      : { kind: "file", file: source };
  }
  const manifest = readManifest(source);
  const relativePath =
    manifest.program.kind === "executable" ? manifest.program.executable : manifest.program.main;
  const path = join(source, relativePath);
  if (!existsSync(path)) {
    const key = manifest.program.kind === "executable" ? "executable" : "main";
    throw new DroverError(
      "usage",
      `invalid plugin manifest ${join(source, MANIFEST_FILE)}: ${key} ${JSON.stringify(relativePath)} does not exist`,
      { file: join(source, MANIFEST_FILE) },
    );
  }
  return manifest.program.kind === "executable"
    ? { kind: "directory", dir: source, manifest, executable: relativePath }
    : { kind: "script", entry: path, manifest };
}

function startsWithShebang(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head.toString() === "#!";
  } finally {
    closeSync(fd);
  }
}

/** Puts what gets installed into `staging`; returns the executable's (or script's) name in it. */
async function stage(local: LocalSource, staging: string): Promise<string> {
  switch (local.kind) {
    case "file":
      cpSync(local.file, join(staging, basename(local.file)));
      return basename(local.file);
    case "directory":
      rejectSymlinks(local.dir);
      cpSync(local.dir, staging, { recursive: true });
      return local.executable;
    case "script":
      writeFileSync(join(staging, BUNDLE_FILE), await bundlePlugin(local.entry), { mode: 0o644 });
      return BUNDLE_FILE;
  }
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
