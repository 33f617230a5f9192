/**
 * `[hooks]` → HooksConfig (docs/hooks.md). `job_started` / `job_completed` are a path, or an array of paths
 * and `{ path = "...", timeout = seconds }` tables, run in order; `[[hooks.plugins]]` are lifecycle
 * plugins. The `ACTIONS_RUNNER_HOOK_*` environment variables are not read here: the script-hooks
 * plugin combines them with this list.
 */
import { isAbsolute } from "node:path";
import type { TomlValue } from "smol-toml";
import { reservedForHooks } from "../job/hook-context.ts";
import { describe, isTable, optional, TableReader } from "./fields.ts";
import type { KeyPath } from "./locate.ts";
import type { HookScript, HooksConfig, LifecyclePluginConfig } from "./model.ts";
import { readPluginRef } from "./plugin-ref.ts";

export function readHooks(r: TableReader): HooksConfig {
  const hooks: HooksConfig = {
    jobStarted: readScripts(r, "job_started"),
    jobCompleted: readScripts(r, "job_completed"),
    plugins: readPlugins(r),
    passVariables: readPassVariables(r),
  };
  r.finish();
  return hooks;
}

/**
 * `pass_variables`: project variables hooks and lifecycle plugins may see (src/job/hook-context.ts).
 * A name drover or GitHub's runner sets, or one that changes which program runs or how (PATH,
 * LD_PRELOAD, PERL5OPT, GIT_*, ...), is refused: a project must never choose it for host code.
 */
function readPassVariables(r: TableReader): string[] {
  const names = r.stringArray("pass_variables") ?? [];
  return names.filter((name, i) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      r.problems.error(r.at("pass_variables", i), `expected a variable name, got ${JSON.stringify(name)}`);
      return false;
    }
    if (reservedForHooks(name)) {
      r.problems.error(
        r.at("pass_variables", i),
        `${name} cannot be passed to hooks: drover sets it, or it changes which program runs or how`,
      );
      return false;
    }
    return true;
  });
}

function readScripts(r: TableReader, key: string): HookScript[] {
  const value = r.get(key);
  if (value === undefined) return [];
  if (typeof value === "string") return scriptPath(r, [key], value) ? [{ path: value }] : [];
  if (!Array.isArray(value)) return r.wrongType(key, "a path or an array of paths", value) ?? [];
  const scripts: HookScript[] = [];
  value.forEach((item, i) => {
    const script = readScript(r, [key, i], item);
    if (script !== undefined) scripts.push(script);
  });
  return scripts;
}

function readScript(r: TableReader, at: KeyPath, item: TomlValue): HookScript | undefined {
  if (typeof item === "string") return scriptPath(r, at, item) ? { path: item } : undefined;
  if (!isTable(item)) {
    r.problems.error(
      r.at(...at),
      `expected a path or { path = "...", timeout = seconds }, got ${describe(item)}`,
    );
    return undefined;
  }
  const s = new TableReader(r.problems, r.at(...at), item);
  const path = s.string("path");
  const timeoutSeconds = s.positiveSeconds("timeout");
  s.finish();
  if (path === undefined) {
    if (s.get("path") === undefined) r.problems.error(s.at("path"), 'missing required key "path"');
    return undefined;
  }
  if (!scriptPath(r, [...at, "path"], path)) return undefined;
  return { path, ...optional("timeoutSeconds", timeoutSeconds) };
}

/** Hook scripts run from wherever drover was started: a relative path would mean something else each time. */
function scriptPath(r: TableReader, at: KeyPath, path: string): boolean {
  if (isAbsolute(path)) return true;
  r.problems.error(r.at(...at), `hook path must be absolute, got ${JSON.stringify(path)}`);
  return false;
}

function readPlugins(r: TableReader): LifecyclePluginConfig[] {
  const value = r.get("plugins");
  if (value === undefined) return [];
  if (!Array.isArray(value))
    return r.wrongType("plugins", "an array of tables ([[hooks.plugins]])", value) ?? [];
  const plugins: LifecyclePluginConfig[] = [];
  value.forEach((item, i) => {
    if (!isTable(item)) {
      r.problems.error(r.at("plugins", i), `expected a table ([[hooks.plugins]]), got ${describe(item)}`);
      return;
    }
    const p = new TableReader(r.problems, r.at("plugins", i), item);
    const ref = readPluginRef(p);
    const settings = p.json("settings") ?? {};
    p.finish();
    if (ref !== undefined) plugins.push({ ref, settings });
  });
  return plugins;
}
