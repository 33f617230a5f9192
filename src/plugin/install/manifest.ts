/**
 * `drover-plugin.toml`, the manifest of a plugin shipped as a directory (docs/installing-plugins.md):
 *
 *   name = "python-executor"
 *   version = "1.0.0"
 *   kind = "executor"            # or "lifecycle"
 *   protocol_versions = [1]
 *   executable = "plugin.py"     # relative to the directory
 *
 * or, for a TypeScript or JavaScript plugin bundled at install and run on drover's own runtime,
 * instead of `executable`:
 *
 *   main = "src/main.ts"         # its entry, relative to the directory
 */
import { readFileSync } from "node:fs";
import { isAbsolute, join, normalize } from "node:path";
import semver from "semver";
import { parse, TomlError } from "smol-toml";
import { DroverError } from "../../../kernel/errors.ts";

export const MANIFEST_FILE = "drover-plugin.toml";

export interface Manifest {
  name: string;
  version: string;
  kind: "executor" | "lifecycle";
  protocolVersions: number[];
  program: ManifestProgram;
}

/**
 * What the directory holds to run, relative to it: an executable, or a script entry to bundle; or,
 * in an npm package, which package holds the executable for each platform (`[platform_packages]`,
 * `linux-x64 = "@acme/drover-lxd-linux-x64"`, as esbuild ships its binaries).
 */
export type ManifestProgram =
  | { kind: "executable"; executable: string }
  | { kind: "script"; main: string }
  | { kind: "platforms"; packages: Record<string, string> };

/** Plugin names become directory names: letters, digits, `.`, `_`, `-`. */
export function isValidPluginName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) && name !== "." && name !== "..";
}

export function readManifest(dir: string): Manifest {
  const file = join(dir, MANIFEST_FILE);
  const fail = (message: string, line?: number) =>
    new DroverError("usage", `invalid plugin manifest ${file}${line ? `:${line}` : ""}: ${message}`, {
      file,
      ...(line ? { line } : {}),
    });
  let doc: Record<string, unknown>;
  try {
    doc = parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError)
      throw fail((err.message.split("\n")[0] ?? "").replace(/^Invalid TOML document:\s*/, ""), err.line);
    throw fail((err as Error).message);
  }
  const text = (key: string): string => {
    const value = doc[key];
    if (typeof value !== "string" || !value) throw fail(`${key}: expected a non-empty string`);
    return value;
  };
  const name = text("name");
  if (!isValidPluginName(name))
    throw fail(`name: ${JSON.stringify(name)} may contain only letters, digits, ".", "_" and "-"`);
  const version = text("version");
  if (!semver.valid(version))
    throw fail(`version: ${JSON.stringify(version)} is not a semantic version (like "1.2.3")`);
  const kind = text("kind");
  if (kind !== "executor" && kind !== "lifecycle")
    throw fail(`kind: expected "executor" or "lifecycle", got ${JSON.stringify(kind)}`);
  const versions = doc.protocol_versions;
  if (!Array.isArray(versions) || !versions.length || !versions.every((v) => Number.isInteger(v) && v > 0)) {
    throw fail("protocol_versions: expected a non-empty list of positive integers, e.g. [1]");
  }
  const program = manifestProgram(doc, text, fail);
  return { name, version, kind, protocolVersions: versions as number[], program };
}

function manifestProgram(
  doc: Record<string, unknown>,
  text: (key: string) => string,
  fail: (message: string) => DroverError,
): ManifestProgram {
  const keys = ["executable", "main", "platform_packages"].filter((key) => doc[key] !== undefined);
  const [key] = keys;
  if (keys.length !== 1 || key === undefined)
    throw fail(
      "expected exactly one of executable (a program to run), main (a TypeScript or JavaScript entry to bundle) and platform_packages (an npm package per platform)",
    );
  if (key === "platform_packages") return { kind: "platforms", packages: platformPackages(doc[key], fail) };
  const path = normalize(text(key));
  if (isAbsolute(path) || path.startsWith(".."))
    throw fail(`${key}: ${JSON.stringify(path)} must be a path inside the plugin directory`);
  return key === "executable" ? { kind: "executable", executable: path } : { kind: "script", main: path };
}

function platformPackages(value: unknown, fail: (message: string) => DroverError): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw fail('platform_packages: expected a table like { linux-x64 = "@acme/drover-lxd-linux-x64" }');
  const packages: Record<string, string> = {};
  for (const [platform, name] of Object.entries(value)) {
    if (!/^[a-z0-9]+-[a-z0-9]+$/.test(platform))
      throw fail(
        `platform_packages: ${JSON.stringify(platform)} is not a platform like linux-x64 or linux-arm64`,
      );
    if (typeof name !== "string" || !/^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/.test(name))
      throw fail(`platform_packages.${platform}: expected an npm package name, got ${JSON.stringify(name)}`);
    packages[platform] = name;
  }
  if (!Object.keys(packages).length) throw fail("platform_packages: names no platform");
  return packages;
}
