/**
 * What drover needs to start a plugin: a name for messages and logs, and the command line.
 * Built-in plugins are this same binary re-executed in plugin mode (`drover __plugin NAME`).
 */
export interface PluginSpec {
  /** As shown in messages: "shell", "custom", "firecracker". */
  name: string;
  command: string;
  args: string[];
  /** Identifies one plugin process to share between runners and jobs (command + args). */
  key: string;
  /**
   * Checked before every launch (install/trust.ts): permissions always, except for the built-ins
   * (this binary); file hashes for installed plugins.
   */
  trust: { kind: "builtin" } | { kind: "path" } | { kind: "installed"; integrity: Integrity };
  /**
   * How `command` is started: executed ("exec"), or run as a JavaScript module by this
   * executable's embedded runtime ("drover": an installed TypeScript or JavaScript plugin).
   */
  runtime: PluginRuntime;
}

export type PluginRuntime = "exec" | "drover";

export function pluginSpec(
  name: string,
  command: string,
  args: string[] = [],
  integrity?: Integrity,
  runtime: PluginRuntime = "exec",
): PluginSpec {
  return {
    name,
    command,
    args,
    key: JSON.stringify([runtime, command, ...args]),
    trust: integrity ? { kind: "installed", integrity } : { kind: "path" },
    runtime,
  };
}

/** An installed plugin as its lock entry describes it, with the hashes checked before each launch. */
export function installedPluginSpec(entry: InstalledPlugin, lockFile: string): PluginSpec {
  return pluginSpec(entry.name, entry.executable, [], integrityOf(entry, lockFile), entry.runtime ?? "exec");
}

/** The hidden sub-command that runs a built-in plugin. */
export const PLUGIN_MODE_COMMAND = "__plugin";

import type { BuiltinPluginName } from "../../plugins/catalog.ts";
import { type InstalledPlugin, integrityOf } from "./install/lock.ts";
import type { Integrity } from "./install/trust.ts";

/**
 * A built-in plugin: this executable in plugin mode. When running from source (`bun src/main.ts`),
 * `process.execPath` is bun and the entry script has to be passed again.
 */
export function builtinPluginSpec(name: BuiltinPluginName): PluginSpec {
  const entry = process.argv[1];
  const compiled = entry === undefined || entry.startsWith("/$bunfs/");
  const args = compiled ? [PLUGIN_MODE_COMMAND, name] : [entry, PLUGIN_MODE_COMMAND, name];
  return { ...pluginSpec(name, process.execPath, args), trust: { kind: "builtin" } };
}
