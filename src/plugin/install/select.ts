/**
 * Which installed plugin a `name = "..."` (+ optional `version = "^1.2"`, + optional `source`)
 * reference means: the highest installed version that satisfies the constraint and, when the
 * reference names a source, was installed from that source. drover run and exec never fetch: what
 * is missing is a configuration error naming the command that installs it.
 */
import semver from "semver";
import { DroverError } from "../../../kernel/errors.ts";
import { formatIntegrity, sha256HexIntegrity } from "../source/integrity.ts";
import { parseSpecifier, type SourceSpecifier, specifierKey } from "../source/specifier.ts";
import type { InstalledPlugin, LockFile } from "./lock.ts";

export interface PluginReference {
  name: string;
  version?: string;
  /** A source specifier, as config.toml's `source` says it. */
  source?: string;
}

export function selectInstalled(
  lock: LockFile,
  ref: PluginReference,
  kind: InstalledPlugin["kind"],
  where: string,
): InstalledPlugin {
  const declared = ref.source === undefined ? undefined : parseSpecifier(ref.source, "/");
  const source = declared === undefined ? undefined : specifierKey(declared);
  const sameName = lock.plugins.filter((p) => p.name === ref.name);
  const fromSource = sameName.filter((p) => declared === undefined || installedFrom(p, declared));
  const matching = fromSource
    .filter((p) => ref.version === undefined || semver.satisfies(p.version, ref.version))
    .sort((a, b) => semver.rcompare(a.version, b.version));
  const chosen = matching[0];
  if (!chosen) {
    const installed = sameName.length
      ? ` (installed: ${sameName.map((p) => (source === undefined ? p.version : `${p.version} from ${p.source?.specifier ?? "an unrecorded source"}`)).join(", ")})`
      : "";
    const wanted = ref.version === undefined ? "" : ` matching ${JSON.stringify(ref.version)}`;
    const from = source === undefined ? "" : ` from ${source}`;
    const fix =
      source === undefined
        ? `install it with: drover plugin install /path/to/${ref.name}`
        : "install it with: drover plugin sync";
    throw new DroverError(
      "config_invalid",
      `${where}: plugin "${ref.name}"${wanted}${from} is not installed${installed}; ${fix}`,
    );
  }
  if (chosen.kind !== kind) {
    throw new DroverError(
      "config_invalid",
      `${where}: plugin "${ref.name}" ${chosen.version} is a ${chosen.kind} plugin, not ${kind === "executor" ? "an executor" : "a lifecycle"} plugin`,
    );
  }
  return chosen;
}

/**
 * Whether an installed plugin came from a declared source: the same path or URL (and, for a URL
 * pinned in config.toml, the same digest); for npm, the
 * same package, in a version the declared range accepts (installed as `npm:x@^2` or `npm:x@2.3.1`,
 * 2.3.1 is what `npm:x@^2` means too; a dist-tag moves, so any version of the package is it).
 */
function installedFrom(plugin: InstalledPlugin, declared: SourceSpecifier): boolean {
  const record = plugin.source;
  if (!record) return false;
  if (declared.kind === "url" && declared.sha256 !== undefined) {
    // A pin in config.toml is part of the source: a new pin is a new plugin (a revoked build).
    const pinned = formatIntegrity(sha256HexIntegrity(declared.sha256));
    return record.specifier === declared.url && record.integrity === pinned;
  }
  if (declared.kind !== "npm") return record.specifier === specifierKey(declared);
  if (!record.package?.startsWith(`${declared.name}@`)) return false;
  return (
    semver.validRange(declared.range) === null ||
    semver.satisfies(plugin.version, declared.range, { includePrerelease: true })
  );
}
