/** drover-plugin.toml (src/plugin/install/manifest.ts): what it names to run, and its errors. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { readManifest } from "../../src/plugin/install/manifest.ts";
import { tempDir } from "../harness.ts";

const HEAD = 'name = "p"\nversion = "1.0.0"\nkind = "executor"\nprotocol_versions = [1]\n';

function manifest(body: string) {
  const dir = tempDir();
  dir.file("drover-plugin.toml", HEAD + body);
  return { dir, read: () => readManifest(dir.path), file: join(dir.path, "drover-plugin.toml") };
}

describe("drover-plugin.toml", () => {
  test("executable: a program run as it is", () => {
    const { dir, read } = manifest('executable = "./bin/plugin"\n');
    using _ = dir;
    expect(read().program).toEqual({ kind: "executable", executable: "bin/plugin" });
  });

  test("main: a TypeScript or JavaScript entry, bundled at install", () => {
    const { dir, read } = manifest('main = "src/main.ts"\n');
    using _ = dir;
    expect(read().program).toEqual({ kind: "script", main: "src/main.ts" });
  });

  test("platform_packages: an npm package per platform", () => {
    const { dir, read } = manifest(
      '[platform_packages]\nlinux-x64 = "@acme/lxd-linux-x64"\nlinux-arm64 = "lxd-arm"\n',
    );
    using _ = dir;
    expect(read().program).toEqual({
      kind: "platforms",
      packages: { "linux-x64": "@acme/lxd-linux-x64", "linux-arm64": "lxd-arm" },
    });
  });

  test("platform_packages naming something that is not a package: refused, naming the platform", () => {
    const { dir, read, file } = manifest('[platform_packages]\nlinux-x64 = "../../etc"\n');
    using _ = dir;
    expect(read).toThrow(
      `invalid plugin manifest ${file}: platform_packages.linux-x64: expected an npm package name, got "../../etc"`,
    );
  });

  test.each([
    ["neither", ""],
    ["both", 'executable = "plugin"\nmain = "main.ts"\n'],
  ])("%s of executable and main: one clear error naming the file", (_, body) => {
    const { dir, read, file } = manifest(body);
    using _dir = dir;
    expect(read).toThrow(
      `invalid plugin manifest ${file}: expected exactly one of executable (a program to run), main (a TypeScript or JavaScript entry to bundle) and platform_packages (an npm package per platform)`,
    );
  });

  test.each([
    ["main", "../outside.ts"],
    ["executable", "/usr/bin/env"],
  ])("%s outside the directory is refused", (key, path) => {
    const { dir, read, file } = manifest(`${key} = ${JSON.stringify(path)}\n`);
    using _ = dir;
    expect(read).toThrow(
      `invalid plugin manifest ${file}: ${key}: ${JSON.stringify(path)} must be a path inside the plugin directory`,
    );
  });
});
