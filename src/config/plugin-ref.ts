/**
 * `name` / `path` / `version` of a plugin reference, shared by `[runners.plugin]` and `[[hooks.plugins]]`.
 */
import { isAbsolute } from "node:path";
import { validRange } from "semver";
import type { TableReader } from "./fields.ts";
import type { PluginRef } from "./model.ts";

/**
 * Installed plugins live in `<plugin dir>/<name>/<version>/` (docs/installing-plugins.md), so a name is one safe path
 * component.
 */
const pluginName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Reads the reference keys of `r` (the caller reads `settings` and calls `finish`). */
export function readPluginRef(r: TableReader): PluginRef | undefined {
  const path = r.string("path");
  const name = r.string("name");
  const version = r.string("version");
  if (path !== undefined && name !== undefined) {
    r.problems.error(
      r.at("path"),
      "set either name (an installed plugin) or path (a plugin executable), not both",
    );
    return undefined;
  }
  if (path !== undefined) {
    if (version !== undefined) {
      r.problems.error(r.at("version"), "version applies to an installed plugin (name), not to path");
    }
    if (!isAbsolute(path)) {
      r.problems.error(r.at("path"), `plugin path must be absolute, got ${JSON.stringify(path)}`);
      return undefined;
    }
    return version === undefined ? { kind: "path", path } : undefined;
  }
  if (name !== undefined) {
    let ok = true;
    if (!pluginName.test(name)) {
      r.problems.error(
        r.at("name"),
        `expected a plugin name (letters, digits, ".", "_", "-"), got ${JSON.stringify(name)}`,
      );
      ok = false;
    }
    // validRange("") is "*": an empty constraint is more likely a mistake than "any version".
    if (version !== undefined && (version.trim() === "" || validRange(version) === null)) {
      r.problems.error(
        r.at("version"),
        `expected a semver range like "^1.2", got ${JSON.stringify(version)}`,
      );
      ok = false;
    }
    if (!ok) return undefined;
    return version === undefined ? { kind: "installed", name } : { kind: "installed", name, version };
  }
  // Only report "missing" when neither key was there at all (not when one had the wrong type).
  if (r.get("path") === undefined && r.get("name") === undefined) {
    r.problems.error(r.path, "expected name (an installed plugin) or path (a plugin executable)");
  }
  return undefined;
}
