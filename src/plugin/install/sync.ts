/**
 * `drover plugin sync [--frozen]`: installs every plugin config.toml declares with a `source`
 * (`[runners.plugin]`, `[[hooks.plugins]]`) that is not installed from that source in a matching
 * version, as Terraform's `init` and Packer's `init` do; what is installed is checked as `drover
 * plugin verify` checks it. `--frozen` never fetches: anything missing, from another source, or
 * changed since install is a problem, all of them reported together (for provisioning scripts
 * and CI). drover run and exec never fetch on their own (select.ts).
 */
import { DroverError } from "../../../kernel/errors.ts";
import type { Config } from "../../config/model.ts";
import type { Logger } from "../../log/logger.ts";
import type { Registry } from "../source/npm-registry.ts";
import { installPlugin } from "./install.ts";
import { type InstalledPlugin, integrityOf, readLock } from "./lock.ts";
import { lockPath } from "./plugin-dir.ts";
import { type PluginReference, selectInstalled } from "./select.ts";
import { verifyInstalled } from "./trust.ts";

/** A plugin config.toml declares with a source. */
export interface DeclaredPlugin extends PluginReference {
  source: string;
  kind: InstalledPlugin["kind"];
  /** Where config.toml declares it, as messages name it: `runner "vm"`, `hooks.plugins`. */
  where: string;
}

export function declaredPlugins(config: Config): DeclaredPlugin[] {
  const declared: DeclaredPlugin[] = [];
  for (const runner of config.runners) {
    if (runner.executor === "plugin" && runner.plugin.kind === "installed" && runner.plugin.source)
      declared.push({
        ...runner.plugin,
        source: runner.plugin.source,
        kind: "executor",
        where: `runner "${runner.name}"`,
      });
  }
  for (const plugin of config.hooks.plugins) {
    if (plugin.ref.kind === "installed" && plugin.ref.source)
      declared.push({ ...plugin.ref, source: plugin.ref.source, kind: "lifecycle", where: "hooks.plugins" });
  }
  // Two runners on the same plugin need it once.
  const seen = new Set<string>();
  return declared.filter((d) => {
    const key = JSON.stringify([d.name, d.version, d.source, d.kind]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export interface SyncOptions {
  frozen: boolean;
  pluginDir: string;
  registry: Registry;
  logger: Logger;
  handshakeTimeoutMs: number;
  /** One line per plugin, for the person running the command. */
  report(line: string): void;
}

export async function syncPlugins(config: Config, options: SyncOptions): Promise<void> {
  const lockFile = lockPath(options.pluginDir);
  const problems: string[] = [];
  for (const plugin of declaredPlugins(config)) {
    const installed = installedFrom(plugin, lockFile);
    if (installed.entry && installed.problem === undefined) {
      options.report(`ok         ${plugin.name} ${installed.entry.version}  ${plugin.source}`);
      continue;
    }
    const why = installed.problem ?? "not installed";
    if (options.frozen) {
      problems.push(`${plugin.where}: plugin "${plugin.name}" from ${plugin.source}: ${why}`);
      continue;
    }
    const entry = await installPlugin({
      source: plugin.source,
      name: plugin.name,
      pluginDir: options.pluginDir,
      registry: options.registry,
      logger: options.logger,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
    });
    // What the source gave must be what config asks for, or run and exec would not find it.
    const check = installedFrom(plugin, lockFile);
    if (check.entry?.version !== entry.version)
      throw new DroverError(
        "config_invalid",
        `${plugin.where}: ${plugin.source} installed ${plugin.name} ${entry.version} (${entry.kind}), which config.toml's plugin reference does not accept${plugin.version === undefined ? "" : ` (version = ${JSON.stringify(plugin.version)})`}`,
      );
    const from = entry.source?.package
      ? ` (${entry.source.package}${entry.source.integrity ? `, ${entry.source.integrity}` : ""})`
      : "";
    options.report(`installed  ${plugin.name} ${entry.version}  ${plugin.source}${from}`);
  }
  if (problems.length)
    throw new DroverError(
      "config_invalid",
      `plugin sync --frozen: ${problems.length} declared plugin(s) not installed as config.toml says (run drover plugin sync without --frozen to install them)`,
      { problems },
    );
}

/** The installed plugin a declaration means, and what is wrong with it (missing, changed). */
function installedFrom(
  plugin: DeclaredPlugin,
  lockFile: string,
): { entry?: InstalledPlugin; problem?: string } {
  let entry: InstalledPlugin;
  try {
    entry = selectInstalled(readLock(lockFile), plugin, plugin.kind, plugin.where);
  } catch (err) {
    const error = DroverError.from(err);
    if (error.code !== "config_invalid") throw error;
    return { problem: error.shortMessage.replace(`${plugin.where}: `, "") };
  }
  try {
    verifyInstalled(entry.name, entry.executable, integrityOf(entry, lockFile));
    return { entry };
  } catch (err) {
    return { entry, problem: DroverError.from(err).shortMessage };
  }
}
