/**
 * `drover plugin install SOURCE [--name N] [--sha256 HEX] [--registry URL] | sync [--frozen] | list |
 * inspect NAME[@VERSION] | remove NAME[@VERSION] | verify`
 * (docs/installing-plugins.md). Output is for people; every failure is one clear line (a corrupt lock file included).
 */
import { rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { DroverError } from "../../kernel/errors.ts";
import { PluginKind } from "../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/model.ts";
import { ExitStatus } from "../exit-status.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { PluginHost } from "../plugin/host.ts";
import { withPluginDirLock } from "../plugin/install/dir-lock.ts";
import { installPlugin } from "../plugin/install/install.ts";
import { integrityOf, readLock, writeLock } from "../plugin/install/lock.ts";
import { lockPath, pluginDir } from "../plugin/install/plugin-dir.ts";
import { selectInstalled } from "../plugin/install/select.ts";
import { syncPlugins } from "../plugin/install/sync.ts";
import { verifyInstalled } from "../plugin/install/trust.ts";
import { newPlugin } from "../plugin/scaffold/new-plugin.ts";
import { testPlugin } from "../plugin/scaffold/plugin-test.ts";
import type { Registry } from "../plugin/source/npm-registry.ts";
import { parseSha256 } from "../plugin/source/specifier.ts";
import { installedPluginSpec } from "../plugin/spec.ts";
import { parseArgs } from "./args.ts";
import { usageError } from "./usage.ts";

export async function pluginCommand(
  argv: string[],
  options: { logLevel: string | undefined },
): Promise<number> {
  const [sub, ...rest] = argv;
  const dir = pluginDir();
  const logger = createLogger({ level: options.logLevel ?? "warn", pretty: Boolean(process.stderr.isTTY) });
  switch (sub) {
    case "install":
      return install(rest, dir, logger);
    case "list":
      return list(rest, dir);
    case "inspect":
      return inspect(rest, dir, logger);
    case "remove":
      return remove(rest, dir);
    case "verify":
      return verify(rest, dir);
    case "sync":
      return sync(rest, dir, logger);
    case "new":
      return scaffold(rest);
    case "test":
      return test(rest);
    default:
      throw usageError(
        sub === undefined
          ? "plugin needs a sub-command: install, sync, list, inspect, remove, verify, new, test"
          : `unknown plugin sub-command ${JSON.stringify(sub)}`,
      );
  }
}

async function install(argv: string[], dir: string, logger: Logger): Promise<number> {
  const args = parseArgs(argv, { values: ["name", "config", "sha256", "registry"] });
  const [source, extra] = args.positionals;
  if (source === undefined || extra !== undefined)
    throw usageError(
      "plugin install takes one SOURCE: a path (an executable, a directory with drover-plugin.toml, a TypeScript or JavaScript entry), an https:// URL of a tarball, or npm:NAME[@RANGE]",
    );
  const config = await configFrom(args.values.get("config"));
  const name = args.values.get("name");
  let sha256 = args.values.get("sha256");
  if (sha256 !== undefined) {
    try {
      sha256 = parseSha256(sha256);
    } catch (err) {
      throw usageError((err as Error).message);
    }
  }
  const entry = await installPlugin({
    source,
    ...(name === undefined ? {} : { name }),
    ...(sha256 === undefined ? {} : { sha256 }),
    pluginDir: dir,
    registry: registryFor(config, args.values.get("registry")),
    logger,
    handshakeTimeoutMs: config.pluginHandshakeTimeoutMs,
  });
  const from = entry.source?.package ?? entry.source?.specifier;
  process.stdout.write(
    `installed ${entry.name} ${entry.version} (${entry.kind}) in ${entry.dir}\n  sha256 ${entry.sha256}\n${from && from !== entry.source?.specifier ? `  from ${from}\n` : ""}${entry.source?.integrity ? `  source ${entry.source.integrity}\n` : ""}`,
  );
  return ExitStatus.ok;
}

async function sync(argv: string[], dir: string, logger: Logger): Promise<number> {
  const args = parseArgs(argv, { values: ["config", "registry"], flags: ["frozen"] });
  if (args.positionals.length) throw usageError("plugin sync takes no arguments");
  const config = await configFrom(args.values.get("config"));
  await syncPlugins(config, {
    frozen: args.flags.has("frozen"),
    pluginDir: dir,
    registry: registryFor(config, args.values.get("registry")),
    logger,
    handshakeTimeoutMs: config.pluginHandshakeTimeoutMs,
    report: (line) => process.stdout.write(`${line}\n`),
  });
  return ExitStatus.ok;
}

async function scaffold(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["dir"] });
  const [kind, name, extra] = args.positionals;
  if ((kind !== "executor" && kind !== "lifecycle") || name === undefined || extra !== undefined)
    throw usageError(
      "plugin new takes a kind (executor or lifecycle) and a NAME: drover plugin new executor lxd",
    );
  const dir = resolve(args.values.get("dir") ?? name);
  const files = await newPlugin(kind, name, dir);
  process.stdout.write(
    [
      `made the ${kind} plugin ${name} in ${dir}:`,
      ...files.map((file) => `  ${file}`),
      "next:",
      `  cd ${dir}`,
      "  drover plugin test        # its tests, on drover's runtime",
      "  drover plugin install .   # bundle and install it",
      "",
    ].join("\n"),
  );
  return ExitStatus.ok;
}

async function test(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {});
  const [dir = ".", extra] = args.positionals;
  if (extra !== undefined) throw usageError("plugin test takes at most one DIR");
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await testPlugin(dir, stop.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function configFrom(explicitPath: string | undefined): Promise<Config> {
  const { config } = await loadConfig({
    ...(explicitPath === undefined ? {} : { explicitPath }),
    env: process.env,
    cwd: process.cwd(),
  });
  return config;
}

/**
 * The npm registry for `npm:` sources: `--registry`, else config.toml's `plugin_registry`; its
 * token, for a private registry, from DROVER_PLUGIN_REGISTRY_TOKEN (never from the config file).
 */
function registryFor(config: Config, flag: string | undefined): Registry {
  let url = config.pluginRegistry;
  if (flag !== undefined) {
    try {
      url = new URL(flag.endsWith("/") ? flag : `${flag}/`).href;
    } catch {
      throw usageError(`--registry ${JSON.stringify(flag)} is not a URL`);
    }
  }
  const token = process.env.DROVER_PLUGIN_REGISTRY_TOKEN;
  return token ? { url, token } : { url };
}

function list(argv: string[], dir: string): number {
  if (argv.length) throw usageError("plugin list takes no arguments");
  const lock = readLock(lockPath(dir));
  if (!lock.plugins.length) {
    process.stdout.write(`no plugins installed in ${dir}\n`);
    return ExitStatus.ok;
  }
  const rows = lock.plugins.map((p) => [
    p.name,
    p.version,
    p.kind,
    p.protocolVersions.join(","),
    p.executable,
  ]);
  const header = ["NAME", "VERSION", "KIND", "PROTOCOL", "PATH"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) {
    process.stdout.write(
      `${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")}\n`,
    );
  }
  return ExitStatus.ok;
}

/** NAME or NAME@VERSION-RANGE. */
function parseRef(text: string | undefined, command: string): { name: string; version?: string } {
  if (!text) throw usageError(`plugin ${command} needs NAME or NAME@VERSION`);
  const at = text.indexOf("@");
  return at === -1 ? { name: text } : { name: text.slice(0, at), version: text.slice(at + 1) };
}

async function inspect(argv: string[], dir: string, logger: Logger): Promise<number> {
  const ref = parseRef(argv[0], "inspect");
  const lock = readLock(lockPath(dir));
  const candidates = lock.plugins.filter((p) => p.name === ref.name);
  const kind = candidates[0]?.kind ?? "executor";
  const entry = selectInstalled(lock, ref, kind, "plugin inspect");
  const host = new PluginHost(installedPluginSpec(entry, lockPath(dir)), {
    logger,
    handshakeTimeoutMs: 10_000,
  });
  try {
    const info = await host.start();
    const lines = [
      `name:              ${info.name}`,
      `version:           ${info.version}`,
      `kind:              ${info.kind === PluginKind.EXECUTOR ? "executor" : info.kind === PluginKind.LIFECYCLE ? "lifecycle" : "unknown"}`,
      `protocol versions: ${info.protocolVersions.join(", ")}`,
      `capabilities:      ${info.capabilities.join(", ") || "(none)"}`,
      `installed in:      ${entry.dir}`,
      `executable:        ${entry.executable}`,
      `runs on:           ${entry.runtime === "drover" ? "drover's embedded JavaScript runtime" : "its own (executed)"}`,
      `sha256:            ${entry.sha256}`,
      `settings schema:   ${info.settingsSchema ? "" : "(none)"}`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    if (info.settingsSchema) {
      let pretty = info.settingsSchema;
      try {
        pretty = JSON.stringify(JSON.parse(info.settingsSchema), null, 2);
      } catch {
        // print as the plugin sent it
      }
      process.stdout.write(`${pretty}\n`);
    }
  } finally {
    await host.shutdown();
  }
  return ExitStatus.ok;
}

async function remove(argv: string[], dir: string): Promise<number> {
  const ref = parseRef(argv[0], "remove");
  if (argv.length > 1) throw usageError("plugin remove takes one NAME[@VERSION]");
  return withPluginDirLock(dir, async () => removeUnlocked(ref, dir));
}

function removeUnlocked(ref: { name: string; version?: string }, dir: string): number {
  const path = lockPath(dir);
  const lock = readLock(path);
  const doomed = lock.plugins.filter(
    (p) => p.name === ref.name && (ref.version === undefined || p.version === ref.version),
  );
  if (!doomed.length) {
    throw new DroverError(
      "usage",
      `plugin ${ref.name}${ref.version ? `@${ref.version}` : ""} is not installed in ${dir}`,
    );
  }
  // The lock first: a plugin that is not in the lock is never launched, whatever is left on disk.
  lock.plugins = lock.plugins.filter((p) => !doomed.includes(p));
  writeLock(path, lock);
  for (const p of doomed) {
    rmSync(p.dir, { recursive: true, force: true });
    process.stdout.write(`removed ${p.name} ${p.version}\n`);
  }
  const parent = dirname(doomed[0]!.dir);
  if (!lock.plugins.some((p) => p.name === ref.name)) rmSync(parent, { recursive: true, force: true });
  return ExitStatus.ok;
}

function verify(argv: string[], dir: string): number {
  if (argv.length) throw usageError("plugin verify takes no arguments");
  const lock = readLock(lockPath(dir));
  let bad = 0;
  for (const p of lock.plugins) {
    try {
      verifyInstalled(p.name, p.executable, integrityOf(p, lockPath(dir)));
      process.stdout.write(`ok      ${p.name} ${p.version}\n`);
    } catch (err) {
      bad++;
      process.stdout.write(`FAILED  ${p.name} ${p.version}: ${DroverError.from(err).shortMessage}\n`);
    }
  }
  if (!lock.plugins.length) process.stdout.write(`no plugins installed in ${dir}\n`);
  return bad ? ExitStatus.systemFailure : ExitStatus.ok;
}
