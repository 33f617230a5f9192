/**
 * `drover plugin new` and `drover plugin test` (docs/plugins.md, "Your first plugin"): each kind of
 * project, made by the compiled binary, passes its own test on drover's runtime, type-checks with
 * tsc once its type packages are there (as `npm install` would put them), installs with
 * `drover plugin install .`, and runs a job. PATH holds only /usr/bin and /bin (no bun, no node
 * needed): what a host with only drover has.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { drover, ensureBuilt, ROOT, runProcess, type TempDir, tempDir } from "../harness.ts";

ensureBuilt();

function setup(dir: TempDir) {
  const env = {
    PATH: "/usr/bin:/bin",
    HOME: dir.path,
    LANG: "C.UTF-8",
    DROVER_PLUGIN_DIR: join(dir.path, "plugins"),
  };
  const run = (args: string[], cwd = dir.path) => drover(args, { cwd, env });
  return { run };
}

/** What `npm install` of the project's devDependencies gives tsc, linked from this checkout. */
function linkTypePackages(project: string): void {
  for (const name of ["@types/node", "@bufbuild/protobuf", "@grpc/grpc-js"]) {
    mkdirSync(dirname(join(project, "node_modules", name)), { recursive: true });
    symlinkSync(join(ROOT, "node_modules", name), join(project, "node_modules", name));
  }
}

const tsc = (project: string) =>
  runProcess([join(ROOT, "node_modules", ".bin", "tsc"), "-p", project], {
    cwd: project,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: project },
  });

describe("drover plugin new", () => {
  test("an executor project: its test passes, it type-checks, installs, and runs a job", async () => {
    using dir = tempDir();
    const { run } = setup(dir);
    const made = await run(["plugin", "new", "executor", "lxd"]);
    expect(made.exitCode).toBe(0);
    const project = join(dir.path, "lxd");
    expect(made.stdout).toContain(`made the executor plugin lxd in ${project}:`);
    expect(readFileSync(join(project, "drover-plugin.toml"), "utf8")).toContain('name = "lxd"');
    expect(readFileSync(join(project, "src", "executor.ts"), "utf8")).toContain('export const NAME = "lxd";');

    const tested = await run(["plugin", "test"], project);
    expect(tested.stderr).toContain("1 pass");
    expect(tested.stderr).toContain("0 fail");
    expect(tested.exitCode).toBe(0);

    linkTypePackages(project);
    const checked = await tsc(project);
    expect(checked.stdout + checked.stderr).toBe("");
    expect(checked.exitCode).toBe(0);

    const installed = await run(["plugin", "install", "."], project);
    expect(installed.stdout).toContain("installed lxd 0.1.0 (executor)");
    const config = dir.file(
      "config.toml",
      '[[runners]]\n  name = "lxd"\n  executor = "plugin"\n  [runners.plugin]\n    name = "lxd"\n',
    );
    const job = await run(["exec", "--config", config, "--", "echo job ran in $PWD"]);
    expect(job.stdout).toContain("lxd 0.1.0 is ready");
    expect(job.stdout).toMatch(/job ran in \/\S+lxd-job-\w+\/builds\//);
    expect(job.exitCode).toBe(0);
  }, 60_000);

  test("a lifecycle project: its test passes, it type-checks, and its events reach the job", async () => {
    using dir = tempDir();
    const { run } = setup(dir);
    const project = join(dir.path, "elsewhere");
    expect((await run(["plugin", "new", "lifecycle", "audit", "--dir", project])).exitCode).toBe(0);
    const tested = await run(["plugin", "test", project]);
    expect(tested.exitCode).toBe(0);
    linkTypePackages(project);
    expect((await tsc(project)).exitCode).toBe(0);
    expect((await run(["plugin", "install", project])).stdout).toContain("installed audit 0.1.0 (lifecycle)");
    const config = dir.file(
      "config.toml",
      `[[hooks.plugins]]\n  name = "audit"\n[[runners]]\n  name = "local"\n  executor = "shell"\n  builds_dir = "${dir.path}/builds"\n`,
    );
    const job = await run(["exec", "--config", config, "--", "echo seen=$MY_LIFECYCLE_SEEN"]);
    expect(job.stdout).toMatch(/audit: job \d+ \(\S+\) starts on local/);
    expect(job.stdout).toContain("seen=1\n");
    expect(job.stdout).toMatch(/audit: job \d+ ended success after \d+ ms/);
    expect(job.exitCode).toBe(0);
  }, 60_000);

  test("the checks are real: a failing test fails drover plugin test, a type error fails tsc", async () => {
    using dir = tempDir();
    const { run } = setup(dir);
    const project = join(dir.path, "broken");
    expect((await run(["plugin", "new", "executor", "broken"])).exitCode).toBe(0);
    writeFileSync(
      join(project, "src", "fails.test.ts"),
      'import assert from "node:assert/strict";\nimport { test } from "node:test";\ntest("fails", () => assert.equal(1, 2));\n',
    );
    const tested = await run(["plugin", "test"], project);
    expect(tested.stderr).toContain("1 fail");
    expect(tested.exitCode).toBe(1);
    linkTypePackages(project);
    writeFileSync(
      join(project, "src", "typo.ts"),
      'import { serveExecutr } from "@drover/plugin-sdk";\nserveExecutr;\n',
    );
    const checked = await tsc(project);
    expect(checked.stdout).toContain("serveExecutr");
    expect(checked.exitCode).not.toBe(0);
  }, 60_000);

  test("refusals: a directory with files in it, a bad name, a test run outside a project", async () => {
    using dir = tempDir();
    const { run } = setup(dir);
    mkdirSync(join(dir.path, "taken"));
    dir.file("taken/keep.txt", "mine\n");
    const taken = await run(["plugin", "new", "executor", "x", "--dir", join(dir.path, "taken")]);
    expect(taken.stderr).toContain(`plugin new: ${join(dir.path, "taken")} exists and is not empty`);
    expect(taken.exitCode).toBe(64);
    const badName = await run(["plugin", "new", "executor", "../up"]);
    expect(badName.stderr).toContain('plugin new: "../up" is not a plugin name');
    expect(badName.exitCode).toBe(64);
    const badKind = await run(["plugin", "new", "driver", "x"]);
    expect(badKind.exitCode).toBe(64);
    const outside = await run(["plugin", "test"]);
    expect(outside.stderr).toContain(`plugin test: ${dir.path} has no drover-plugin.toml`);
    expect(outside.exitCode).toBe(64);
  });
});
