/**
 * `name` / `path` / `version` / `source` of a plugin reference, shared by `[runners.plugin]` and
 * `[[hooks.plugins]]`.
 */
import { isAbsolute } from "node:path";
import { validRange } from "semver";
import { parseSpecifier, SpecifierError } from "../plugin/source/specifier.ts";
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
  const source = readSource(r);
  if (source !== undefined && name === undefined && path === undefined) {
    r.problems.error(
      r.at("source"),
      "source says where `drover plugin sync` installs the plugin from; name the plugin too (name = ...)",
    );
    return undefined;
  }
  if (path !== undefined && source !== undefined) {
    r.problems.error(r.at("source"), "source applies to an installed plugin (name), not to path");
    return undefined;
  }
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
    if (!ok || source === null) return undefined;
    return {
      kind: "installed",
      name,
      ...(version === undefined ? {} : { version }),
      ...(source === undefined ? {} : { source }),
    };
  }
  // Only report "missing" when neither key was there at all (not when one had the wrong type).
  if (r.get("path") === undefined && r.get("name") === undefined) {
    r.problems.error(r.path, "expected name (an installed plugin) or path (a plugin executable)");
  }
  return undefined;
}

/**
 * `source`: a specifier `drover plugin sync` installs from (docs/installing-plugins.md, "Sources").
 * undefined when absent, null when invalid (reported).
 */
function readSource(r: TableReader): string | null | undefined {
  const source = r.string("source");
  if (source === undefined) return undefined;
  try {
    const parsed = parseSpecifier(source, "/");
    if (parsed.kind === "path" && !isAbsolute(source)) {
      r.problems.error(
        r.at("source"),
        `a local plugin source must be an absolute path, got ${JSON.stringify(source)}`,
      );
      return null;
    }
    return source;
  } catch (err) {
    if (!(err instanceof SpecifierError)) throw err;
    r.problems.error(r.at("source"), err.message);
    return null;
  }
}
