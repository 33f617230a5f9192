/**
 * Which installed plugin a `name = "..."` (+ optional `version = "^1.2"`) reference means: the
 * highest installed version that satisfies the constraint.
 */
import semver from "semver";
import { DroverError } from "../../../kernel/errors.ts";
import type { InstalledPlugin, LockFile } from "./lock.ts";

export function selectInstalled(
  lock: LockFile,
  ref: { name: string; version?: string },
  kind: InstalledPlugin["kind"],
  where: string,
): InstalledPlugin {
  const sameName = lock.plugins.filter((p) => p.name === ref.name);
  const matching = sameName
    .filter((p) => ref.version === undefined || semver.satisfies(p.version, ref.version))
    .sort((a, b) => semver.rcompare(a.version, b.version));
  const chosen = matching[0];
  if (!chosen) {
    const installed = sameName.length ? ` (installed: ${sameName.map((p) => p.version).join(", ")})` : "";
    const wanted = ref.version === undefined ? "" : ` matching ${JSON.stringify(ref.version)}`;
    throw new DroverError(
      "config_invalid",
      `${where}: plugin "${ref.name}"${wanted} is not installed${installed}; install it with: drover plugin install /path/to/${ref.name}`,
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
