/**
 * `drover plugin install | list | inspect | remove | verify` and installed plugins in config
 * (docs/installing-plugins.md), with the compiled binary and a private DROVER_PLUGIN_DIR per test.
 */
import { describe, expect, test } from "bun:test";
import { appendFileSync, chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, drover, ensureBuilt, FIXTURES, type TempDir, tempDir, tsExecutable } from "../harness.ts";

ensureBuilt();

const VERSIONED = join(FIXTURES, "plugins", "versioned-executor.ts");

function setup(dir: TempDir) {
  const plugins = join(dir.path, "plugins");
  const env = cleanEnv(dir.path, { DROVER_PLUGIN_DIR: plugins });
  const run = (args: string[]) => drover(args, { cwd: dir.path, env });
  let configs = 0;
  const runnerConfig = (ref: string, settings = "") =>
    dir.file(
      `config-${++configs}.toml`,
      `[[runners]]\n  name = "vm"\n  executor = "plugin"\n  builds_dir = "${dir.path}/builds"\n  [runners.plugin]\n    ${ref}\n${settings}`,
    );
  return { plugins, env, run, runnerConfig };
}

describe("drover plugin", () => {
  test("install from a file, list, inspect, run a job by name, remove", async () => {
    using dir = tempDir();
    const { plugins, run, runnerConfig } = setup(dir);
    const exe = tsExecutable(dir, "versioned-plugin", VERSIONED, ["1.0.0"]);
    const installed = await run(["plugin", "install", exe]);
    expect(installed.stdout).toContain(`installed versioned 1.0.0 (executor) in ${plugins}/versioned/1.0.0`);
    expect(installed.exitCode).toBe(0);

    const list = await run(["plugin", "list"]);
    expect(list.stdout).toMatch(
      /versioned\s+1\.0\.0\s+executor\s+1\s+.*versioned\/1\.0\.0\/versioned-plugin/,
    );

    const inspect = await run(["plugin", "inspect", "versioned"]);
    expect(inspect.stdout).toContain("kind:              executor");
    expect(inspect.stdout).toContain('"additionalProperties": false');
    expect(inspect.exitCode).toBe(0);

    const config = runnerConfig('name = "versioned"');
    const job = await run(["exec", "--config", config, "--", "echo ran through the installed plugin"]);
    expect(job.stdout).toContain("versioned plugin 1.0.0 preparing");
    expect(job.stdout).toContain("ran through the installed plugin");
    expect(job.exitCode).toBe(0);

    const removed = await run(["plugin", "remove", "versioned"]);
    expect(removed.stdout).toContain("removed versioned 1.0.0");
    expect((await run(["plugin", "list"])).stdout).toContain("no plugins installed");
    const missing = await run(["exec", "--config", config, "--", "true"]);
    expect(missing.stderr).toContain(
      'plugin "versioned" is not installed; install it with: drover plugin install',
    );
    expect(missing.exitCode).toBe(78);
  });

  test("install from a directory with drover-plugin.toml", async () => {
    using dir = tempDir();
    const { plugins, run } = setup(dir);
    const source = join(dir.path, "src-plugin");
    mkdirSync(source);
    writeFileSync(
      join(source, "drover-plugin.toml"),
      'name = "from-dir"\nversion = "3.1.4"\nkind = "executor"\nprotocol_versions = [1]\nexecutable = "run-plugin"\n',
    );
    writeFileSync(
      join(source, "run-plugin"),
      `#!/bin/sh\nexec '${process.execPath}' '${VERSIONED}' 3.1.4 "$@"\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(source, "README.txt"), "supporting file\n");
    const installed = await run(["plugin", "install", source]);
    expect(installed.stdout).toContain(`installed from-dir 3.1.4 (executor) in ${plugins}/from-dir/3.1.4`);
    expect(installed.exitCode).toBe(0);
    // Every file is hashed: changing a supporting file is caught too.
    appendFileSync(join(plugins, "from-dir", "3.1.4", "README.txt"), "changed\n");
    const verify = await run(["plugin", "verify"]);
    expect(verify.stdout).toContain("FAILED  from-dir 3.1.4");
    expect(verify.stdout).toContain("README.txt");
    expect(verify.exitCode).toBe(2);
  });

  test("several versions side by side: the constraint picks the highest match", async () => {
    using dir = tempDir();
    const { run, runnerConfig } = setup(dir);
    for (const version of ["1.0.0", "1.2.0", "2.0.0"]) {
      const exe = tsExecutable(dir, `p-${version}`, VERSIONED, [version]);
      expect((await run(["plugin", "install", exe, "--name", "vm-plugin"])).exitCode).toBe(0);
    }
    const pinned = runnerConfig('name = "vm-plugin"\n    version = "^1"');
    const one = await run(["exec", "--config", pinned, "--", "true"]);
    expect(one.stdout).toContain("versioned plugin 1.2.0 preparing");
    const latest = runnerConfig('name = "vm-plugin"');
    const two = await run(["exec", "--config", latest, "--", "true"]);
    expect(two.stdout).toContain("versioned plugin 2.0.0 preparing");
    const none = runnerConfig('name = "vm-plugin"\n    version = "^3"');
    const three = await run(["exec", "--config", none, "--", "true"]);
    expect(three.stderr).toContain(
      'plugin "vm-plugin" matching "^3" is not installed (installed: 1.0.0, 1.2.0, 2.0.0)',
    );
    expect(three.exitCode).toBe(78);
    const removeOne = await run(["plugin", "remove", "vm-plugin@2.0.0"]);
    expect(removeOne.stdout).toContain("removed vm-plugin 2.0.0");
    expect((await run(["exec", "--config", latest, "--", "true"])).stdout).toContain(
      "versioned plugin 1.2.0 preparing",
    );
  });

  test("a file changed after install: the next job fails before launch, naming the plugin and the hash mismatch", async () => {
    using dir = tempDir();
    const { plugins, run, runnerConfig } = setup(dir);
    const exe = tsExecutable(dir, "tampered", VERSIONED, ["1.0.0"]);
    expect((await run(["plugin", "install", exe])).exitCode).toBe(0);
    appendFileSync(join(plugins, "versioned", "1.0.0", "tampered"), "# injected\n");
    const job = await run(["exec", "--config", runnerConfig('name = "versioned"'), "--", "echo never"]);
    expect(job.stdout).toContain('refusing to start plugin "versioned": SHA-256 mismatch');
    expect(job.stdout).not.toContain("versioned plugin 1.0.0 preparing");
    expect(job.stdout).not.toContain("never\n");
    expect(job.exitCode).toBe(2);
  });

  test("installs at the same time into one plugin dir: one after the other, every entry kept; a killed holder's lock is taken over", async () => {
    using dir = tempDir();
    const { plugins, run } = setup(dir);
    // What a `plugin install` killed while it held the dir leaves: a lock naming a dead process.
    mkdirSync(plugins, { recursive: true });
    writeFileSync(join(plugins, ".install-lock"), "999999999\n");
    const installs = ["1.0.0", "1.1.0", "1.2.0", "2.0.0"].map((version) =>
      run(["plugin", "install", tsExecutable(dir, `p-${version}`, VERSIONED, [version]), "--name", "many"]),
    );
    for (const installed of await Promise.all(installs)) expect(installed.exitCode).toBe(0);
    const list = await run(["plugin", "list"]);
    for (const version of ["1.0.0", "1.1.0", "1.2.0", "2.0.0"])
      expect(list.stdout).toContain(`many  ${version}`);
    expect(existsSync(join(plugins, ".install-lock"))).toBe(false);
  });

  test("a world-writable plugin is refused", async () => {
    using dir = tempDir();
    const { run, runnerConfig } = setup(dir);
    const exe = tsExecutable(dir, "loose", VERSIONED, ["1.0.0"]);
    chmodSync(exe, 0o777);
    const job = await run(["exec", "--config", runnerConfig(`path = "${exe}"`), "--", "echo never"]);
    expect(job.stdout).toContain("is world-writable");
    expect(job.stdout).not.toContain("never\n");
    expect(job.exitCode).toBe(2);
  });

  test.each([
    ["no-common-version.sh", "no common plugin protocol version"],
    ["garbage.sh", "malformed handshake line"],
    ["silent", "exited before the handshake (exit code 0)"],
  ])("install refuses %s with the reason", async (fixture, reason) => {
    using dir = tempDir();
    const { plugins, run } = setup(dir);
    const path =
      fixture === "silent"
        ? dir.file("silent", "#!/bin/sh\nexit 0\n", 0o755)
        : join(FIXTURES, "plugins", fixture);
    const result = await run(["plugin", "install", path]);
    expect(result.stderr).toContain("refusing to install");
    expect(result.stderr).toContain(reason);
    expect(result.stderr).not.toContain("    at ");
    expect(result.exitCode).toBe(2);
    expect((await run(["plugin", "list"])).stdout).toContain(`no plugins installed in ${plugins}`);
  });

  test("list on an empty dir and on a corrupt lock file: a clear message, never a stack trace", async () => {
    using dir = tempDir();
    const { plugins, run } = setup(dir);
    const empty = await run(["plugin", "list"]);
    expect(empty.stdout).toBe(`no plugins installed in ${plugins}\n`);
    expect(empty.exitCode).toBe(0);
    mkdirSync(plugins, { recursive: true });
    writeFileSync(join(plugins, "drover-plugins.lock"), "{ not json");
    const corrupt = await run(["plugin", "list"]);
    expect(corrupt.stderr).toContain("drover-plugins.lock is corrupt");
    expect(corrupt.stderr).not.toContain("    at ");
    expect(corrupt.exitCode).toBe(78);
  });

  test("settings are checked against the plugin's JSON Schema, naming the key", async () => {
    using dir = tempDir();
    const { run, runnerConfig } = setup(dir);
    const exe = tsExecutable(dir, "schema-plugin", VERSIONED, ["1.0.0"]);
    const bad = runnerConfig(
      `path = "${exe}"`,
      '    [runners.plugin.settings]\n      vcpus = "two"\n      colour = "red"\n',
    );
    const result = await run(["exec", "--config", bad, "--", "echo never"]);
    expect(result.stdout).toContain("settings.vcpus: must be integer");
    expect(result.stdout).toContain('must NOT have additional properties ("colour")');
    expect(result.stdout).not.toContain("never\n");
    expect(result.exitCode).toBe(78);
    const good = runnerConfig(`path = "${exe}"`, "    [runners.plugin.settings]\n      vcpus = 2\n");
    expect((await run(["exec", "--config", good, "--", "echo fine"])).exitCode).toBe(0);
  });
});
