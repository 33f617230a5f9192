/**
 * TypeScript and JavaScript plugins installed from their sources and run on drover's own runtime
 * (docs/installing-plugins.md, "TypeScript and JavaScript plugins"): bundled at install against the
 * SDK embedded in the binary, in a directory with no node_modules and no npm; launched by the drover
 * binary itself; checked like any installed plugin.
 */
import { describe, expect, test } from "bun:test";
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { readLock } from "../../src/plugin/install/lock.ts";
import { lockPath } from "../../src/plugin/install/plugin-dir.ts";
import { docSection, titledBlocks } from "../doc-blocks.ts";
import { cleanEnv, DROVER, drover, ensureBuilt, FIXTURES, ROOT, type TempDir, tempDir } from "../harness.ts";

ensureBuilt();

function setup(dir: TempDir) {
  const plugins = join(dir.path, "plugins");
  const env = cleanEnv(dir.path, { DROVER_PLUGIN_DIR: plugins });
  const run = (args: string[]) => drover(args, { cwd: dir.path, env });
  return { plugins, run };
}

/** The sandbox example's sources, where no node_modules and no tsconfig.json can help resolve them. */
function sandboxSources(dir: TempDir): string {
  const source = join(dir.path, "sandbox-src");
  mkdirSync(source);
  for (const file of ["main.ts", "executor.ts"])
    cpSync(join(ROOT, "examples", "sandbox-executor", file), join(source, file));
  return join(source, "main.ts");
}

describe("plugins on drover's runtime", () => {
  test("an executor installed from its TypeScript sources: one bundled file, locked, run by the drover binary", async () => {
    using dir = tempDir();
    const { plugins, run } = setup(dir);
    const installed = await run(["plugin", "install", sandboxSources(dir)]);
    expect(installed.stderr).toBe("");
    expect(installed.stdout).toContain(`installed sandbox 0.1.0 (executor) in ${plugins}/sandbox/0.1.0`);
    expect(installed.exitCode).toBe(0);
    expect(readdirSync(join(plugins, "sandbox", "0.1.0"))).toEqual(["plugin.js"]);
    const [entry] = readLock(lockPath(plugins)).plugins;
    expect(entry).toMatchObject({
      name: "sandbox",
      runtime: "drover",
      files: { "plugin.js": entry!.sha256 },
    });

    const inspect = await run(["plugin", "inspect", "sandbox"]);
    expect(inspect.stdout).toContain("runs on:           drover's embedded JavaScript runtime");

    const config = dir.file(
      "config.toml",
      '[[runners]]\n  name = "vm"\n  executor = "plugin"\n  [runners.plugin]\n    name = "sandbox"\n',
    );
    // The stage's parent is the plugin process: the drover binary, not a runtime of its own.
    const job = await run([
      "exec",
      "--config",
      config,
      "--",
      'echo "plugin runs as $(readlink /proc/$PPID/exe)"',
    ]);
    expect(job.stdout).toContain(`plugin runs as ${DROVER}\n`);
    expect(job.exitCode).toBe(0);

    // The bundle is checked like any installed file.
    appendFileSync(join(plugins, "sandbox", "0.1.0", "plugin.js"), "\nconsole.log('injected');\n");
    const tampered = await run(["exec", "--config", config, "--", "echo never"]);
    expect(tampered.stdout).toContain('refusing to start plugin "sandbox": SHA-256 mismatch');
    expect(tampered.stdout).not.toContain("never\n");
    expect(tampered.exitCode).toBe(2);
  });

  test("a lifecycle plugin from a directory whose manifest names `main`: BUN_BE_BUN stays out of what it starts", async () => {
    using dir = tempDir();
    const { plugins, run } = setup(dir);
    const source = join(dir.path, "env-report");
    cpSync(join(FIXTURES, "plugins", "ts-lifecycle"), source, { recursive: true });
    const installed = await run(["plugin", "install", source]);
    expect(installed.stdout).toContain(
      `installed env-report 2.1.0 (lifecycle) in ${plugins}/env-report/2.1.0`,
    );
    expect(installed.exitCode).toBe(0);
    // The sources are bundled, not copied: the manifest and src/ stay behind.
    expect(readdirSync(join(plugins, "env-report", "2.1.0"))).toEqual(["plugin.js"]);

    const report = join(dir.path, "report.txt");
    const config = dir.file(
      "config.toml",
      [
        "[[hooks.plugins]]",
        '  name = "env-report"',
        "  [hooks.plugins.settings]",
        `    file = ${JSON.stringify(report)}`,
        "[[runners]]",
        '  name = "local"',
        '  executor = "shell"',
        `  builds_dir = ${JSON.stringify(join(dir.path, "builds"))}`,
        "",
      ].join("\n"),
    );
    const job = await run([
      "exec",
      "--config",
      config,
      "--",
      "env | grep BUN_BE_BUN || echo job-without-be-bun",
    ]);
    expect(job.stdout).toContain("job-without-be-bun");
    expect(job.exitCode).toBe(0);
    const seen = readFileSync(report, "utf8");
    expect(seen).toContain("BUN_BE_BUN=unset\n");
    expect(seen).toContain(`execPath=${DROVER}\n`);
    // The plugin starting its own executable again gets drover, not bun.
    expect(seen).toMatch(/^version=drover \d+\.\d+\.\d+/m);
  });

  test("docs/plugins.md's hello-executor.ts, saved and installed as the page says, runs a job", async () => {
    using dir = tempDir();
    const { run } = setup(dir);
    const code = titledBlocks(
      docSection(join(ROOT, "docs", "plugins.md"), "Writing a plugin in TypeScript"),
    ).get("hello-executor.ts");
    if (code === undefined) throw new Error('docs/plugins.md has no block titled "hello-executor.ts"');
    const source = dir.file("hello-executor.ts", code);
    const installed = await run(["plugin", "install", source]);
    expect(installed.exitCode).toBe(0);
    const name = /^installed (\S+) /.exec(installed.stdout)?.[1];
    const config = dir.file(
      "config.toml",
      `[[runners]]\n  name = "hello"\n  executor = "plugin"\n  [runners.plugin]\n    name = "${name}"\n`,
    );
    const job = await run(["exec", "--config", config, "--", "echo hello from the docs"]);
    expect(job.stdout).toContain("hello from the docs\n");
    expect(job.exitCode).toBe(0);
  });

  test("a plugin importing a package it does not have: the install fails naming the file and line, nothing is installed", async () => {
    using dir = tempDir();
    const { plugins, run } = setup(dir);
    const entry = dir.file(
      "pads.ts",
      'import { serveExecutor } from "@drover/plugin-sdk";\nimport leftPad from "left-pad";\n\nconsole.log(leftPad, serveExecutor);\n',
    );
    const installed = await run(["plugin", "install", entry]);
    expect(installed.stderr).toContain(`cannot install ${entry}: bundling it for drover's runtime failed:`);
    expect(installed.stderr).toContain(`${entry}:2:`);
    expect(installed.stderr).toContain("left-pad");
    expect(installed.stderr).not.toContain("    at ");
    expect(installed.exitCode).toBe(64);
    expect(existsSync(lockPath(plugins))).toBe(false);
  });

  test("a .js file with a #! line is an executable, installed and run as it is", async () => {
    using dir = tempDir();
    const { plugins, run } = setup(dir);
    const script = join(dir.path, "plugin.js");
    writeFileSync(
      script,
      `#!/bin/sh\nexec '${process.execPath}' '${join(FIXTURES, "plugins", "versioned-executor.ts")}' 1.4.0 "$@"\n`,
      { mode: 0o755 },
    );
    const installed = await run(["plugin", "install", script]);
    expect(installed.exitCode).toBe(0);
    const [entry] = readLock(lockPath(plugins)).plugins;
    expect(entry).toMatchObject({ name: "versioned", version: "1.4.0" });
    expect(entry!.runtime).toBeUndefined();
    expect(readFileSync(entry!.executable, "utf8")).toBe(readFileSync(script, "utf8"));
  });
});
