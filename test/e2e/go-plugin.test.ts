/**
 * docs/plugins.md, "Writing a plugin in Go with go-plugin", tested as written: its `main.go`,
 * `executor.go` and `build.sh` blocks are taken from the page, laid out in a GOPATH as the page says,
 * built once per run with its commands and Debian's go-plugin 1.0.1 packages, and jobs run through
 * the plugin with the compiled drover, like a user would.
 *
 * go-plugin 1.0.1 ignores PLUGIN_UNIX_SOCKET_DIR and listens on $TMPDIR/plugin<random>: each test
 * points drover's TMPDIR at a private dir (fault-harness `world()`), so that whatever drover, the
 * plugin and go-plugin leave behind is seen there.
 *
 * The Debian packages are installed by .ci/run, never by a test: when one is missing, the tests fail
 * and say which (nothing is skipped).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { docSection, titledBlocks } from "../doc-blocks.ts";
import {
  cancelledStageSteps,
  cleanEnv,
  drover,
  ensureBuilt,
  expectNoLeftovers,
  processesWithEnv,
  ROOT,
  startDrover,
  type TempDir,
  tempDir,
  waitFor,
} from "../harness.ts";
import { type World, world } from "./faults/fault-harness.ts";

const DOC = join(ROOT, "docs", "plugins.md");

/** What docs/plugins.md tells a Go plugin author to install: the list .ci/run installs. */
const DEBIAN_PACKAGES = [
  "golang-go",
  "golang-github-hashicorp-go-plugin-dev",
  "golang-google-grpc-dev",
  "golang-github-golang-protobuf-1-5-dev",
  "golang-google-protobuf-dev",
  "protobuf-compiler",
  "protoc-gen-go",
  "protoc-gen-go-grpc",
];

/** The packages of DEBIAN_PACKAGES that dpkg does not have installed. */
function missingPackages(): string[] {
  return DEBIAN_PACKAGES.filter((name) => {
    try {
      const query = Bun.spawnSync(["dpkg", "-s", name], { stdout: "pipe", stderr: "pipe" });
      return !(query.exitCode === 0 && query.stdout.toString().includes("\nStatus: install ok installed\n"));
    } catch {
      return true; // no dpkg: not a Debian host, so not installed the way the page says
    }
  });
}

/** The Go section of docs/plugins.md. */
const goSection = () => docSection(DOC, "Writing a plugin in Go with go-plugin");

/** The packages of the section's `apt-get install` command. */
function packagesOnThePage(section: string): string[] {
  const command = /^apt-get install ((?:.*\\\n)*.*)$/m.exec(section)?.[1] ?? "";
  return command.split(/[\s\\]+/).filter(Boolean);
}

/** The plugin's source dir, in the GOPATH the build made, and the plugin built there. */
let build: { home: TempDir; src: string; plugin: string } | undefined;

beforeAll(async () => {
  const missing = missingPackages();
  if (missing.length) {
    throw new Error(
      `the Go plugin tests need the Debian packages ${missing.join(", ")}, which are not installed: .ci/run installs them (as root), or: apt-get install ${missing.join(" ")}`,
    );
  }
  ensureBuilt();
  const blocks = titledBlocks(goSection());
  // HOME is the build's: the GOPATH ($HOME/go) and Go's build cache ($HOME/.cache) live there, one
  // build per run of this file.
  const home = tempDir("drover-go-plugin-");
  const src = join(home.path, "go", "src", "example.com", "hello-executor");
  mkdirSync(src, { recursive: true });
  for (const name of ["main.go", "executor.go"]) {
    const code = blocks.get(name);
    if (code === undefined) throw new Error(`docs/plugins.md has no block titled "${name}"`);
    writeFileSync(join(src, name), code);
  }
  const script = blocks.get("build.sh");
  if (script === undefined) throw new Error('docs/plugins.md has no block titled "build.sh"');
  const run = Bun.spawn(["bash", "-euo", "pipefail", "-c", script], {
    cwd: home.path,
    env: cleanEnv(home.path, { DROVER: ROOT }),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [exitCode, stdout, stderr] = await Promise.all([
    run.exited,
    new Response(run.stdout).text(),
    new Response(run.stderr).text(),
  ]);
  if (exitCode !== 0) {
    home[Symbol.dispose]();
    throw new Error(`build.sh from docs/plugins.md failed (exit ${exitCode}):\n${stdout}${stderr}`);
  }
  build = { home, src, plugin: join(src, "hello-executor") };
}, 180_000);

afterAll(() => build?.home[Symbol.dispose]());

function built(): NonNullable<typeof build> {
  if (!build) throw new Error("the plugin was not built (see beforeAll's error)");
  return build;
}

/** config.toml: one runner on the Go plugin, two jobs at once. */
function pluginConfig(w: World): string {
  return w.dir.file(
    "config.toml",
    `concurrent = 2\n[[runners]]\n  name = "go"\n  executor = "plugin"\n  [runners.plugin]\n    path = "${built().plugin}"\n`,
  );
}

/** The Go plugin's process among those carrying the test's marker. */
function pluginPid(w: World): number | undefined {
  return processesWithEnv(w.mark.entry).find((pid) => {
    try {
      return readlinkSync(`/proc/${pid}/exe`) === built().plugin;
    } catch {
      return false;
    }
  });
}

/** go-plugin 1.0.1's sockets in the test's TMPDIR (`plugin` and nine or so digits). */
function goPluginSockets(w: World): string[] {
  return readdirSync(w.tmp)
    .filter((name) => /^plugin\d+$/.test(name))
    .map((name) => join(w.tmp, name));
}

/** drover's own log records (pino JSON lines on stderr); other lines are skipped. */
function logRecords(stderr: string): Record<string, unknown>[] {
  return stderr.split("\n").flatMap((line) => {
    try {
      const record: unknown = JSON.parse(line);
      return typeof record === "object" && record !== null ? [record as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

/** A job that prints "started", sleeps in the background and in the foreground. */
const STARTED_THEN_SLEEP = ["sleep 300 &", "echo started", "sleep 300"];

describe("docs/plugins.md's Go plugin", () => {
  test("the page names the packages this test checks, and .ci/run installs them", () => {
    expect(packagesOnThePage(goSection()).sort()).toEqual([...DEBIAN_PACKAGES].sort());
    const ci = readFileSync(join(ROOT, ".ci", "run"), "utf8");
    const installed = /^packages=\(([^)]*)\)/m.exec(ci)?.[1]?.split(/\s+/) ?? [];
    expect(DEBIAN_PACKAGES.filter((name) => !installed.includes(name))).toEqual([]);
  });

  test("its code is gofmt-clean; run by hand, go-plugin refuses with its sentence and exit 1", () => {
    const fmt = Bun.spawnSync(["gofmt", "-l", "main.go", "executor.go"], {
      cwd: built().src,
      stderr: "pipe",
    });
    expect({
      exitCode: fmt.exitCode,
      unformatted: fmt.stdout.toString(),
      stderr: fmt.stderr.toString(),
    }).toEqual({
      exitCode: 0,
      unformatted: "",
      stderr: "",
    });
    using dir = tempDir();
    const byHand = Bun.spawnSync([built().plugin], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
      stderr: "pipe",
    });
    expect(byHand.exitCode).toBe(1);
    expect(byHand.stderr.toString()).toContain(
      "This binary is a plugin. These are not meant to be executed directly.",
    );
  });

  test("a job: output streamed into the job log, the driver line, exit 0; nothing left", async () => {
    using w = world();
    const result = await drover(
      ["exec", "--config", pluginConfig(w), "--", "echo hello from go", "echo to-stderr >&2"],
      { cwd: w.dir.path, env: w.env() },
    );
    expect(result.stdout).toContain(
      'Using plugin "hello-executor" executor with driver hello-executor 0.1.0...',
    );
    expect(result.stdout).toContain("hello from go\n");
    expect(result.stdout).toContain("to-stderr\n");
    expect(result.stdout).toContain("Job succeeded");
    expect(result.exitCode).toBe(0);
    // No process, no job dir (Cleanup), no socket (go-plugin removes it after Shutdown).
    await w.expectClean();
  });

  test("a failing script: exit 1, its exit code in the job log, after_script still runs", async () => {
    using w = world();
    const job = w.job("failing", {
      steps: [
        {
          name: "script",
          script: ["echo before", "exit 3", "echo never"],
          timeout: 3600,
          when: "on_success",
        },
        { name: "after_script", script: ['echo "after: $CI_JOB_STATUS"'], timeout: 3600, when: "always" },
      ],
    });
    const result = await drover(["exec", "--config", pluginConfig(w), job], {
      cwd: w.dir.path,
      env: w.env(),
    });
    expect(result.stdout).toContain("before\n");
    expect(result.stdout).not.toContain("never\n");
    expect(result.stdout).toContain("after: failed");
    expect(result.stdout).toContain("exit code 3");
    expect(result.exitCode).toBe(1);
    await w.expectClean();
  });

  test("two jobs at once on one plugin process: each in its own directory, kept apart by job id", async () => {
    using w = world();
    const sync = join(w.dir.path, "sync");
    mkdirSync(sync);
    // Each job writes its name into its builds dir, then waits until both jobs are running, then
    // reads the file back: had the plugin mixed the jobs up, a job would read the other's name.
    const script = [
      'echo "$CI_JOB_NAME" > "$CI_BUILDS_DIR/owner"',
      `touch '${sync}'/"$CI_JOB_NAME"`,
      `for i in $(seq 1000); do [ -e '${sync}/a' ] && [ -e '${sync}/b' ] && break; sleep 0.01; done`,
      `[ -e '${sync}/a' ] && [ -e '${sync}/b' ] && echo "both running"`,
      'echo "owner=$(cat "$CI_BUILDS_DIR/owner") builds=$CI_BUILDS_DIR"',
    ];
    const a = w.job("a", { id: 2001, script });
    const b = w.job("b", { id: 2002, script });
    const result = await drover(["--log-level", "debug", "exec", "--config", pluginConfig(w), a, b], {
      cwd: w.dir.path,
      env: w.env(),
    });
    expect(result.stdout).toContain("[a] both running");
    expect(result.stdout).toContain("[b] both running");
    const seen = [...result.stdout.matchAll(/^\[(a|b)\] owner=(\S*) builds=(\S+)/gm)].map(
      ([, job, owner, dir]) => ({
        job,
        owner,
        dir,
      }),
    );
    expect(
      seen
        .map(({ job, owner }) => ({ job, owner }))
        .sort((x, y) => String(x.job).localeCompare(String(y.job))),
    ).toEqual([
      { job: "a", owner: "a" },
      { job: "b", owner: "b" },
    ]);
    expect(new Set(seen.map(({ dir }) => dir)).size).toBe(2);
    for (const { dir } of seen) expect(dir?.startsWith(`${w.tmp}/hello-executor-`)).toBe(true);
    expect(result.exitCode).toBe(0);
    // One plugin process served both (drover started it once), and Cleanup removed both dirs.
    expect(logRecords(result.stderr).filter((r) => r.msg === "plugin started")).toHaveLength(1);
    await w.expectClean();
  });

  test("Ctrl-C: the plugin stops the stage's process group, its warning keeps its level, after_script runs; exit 3", async () => {
    using w = world();
    // after_script sees whether the plugin stopped the whole stage (cancelledStageSteps).
    const job = w.job("cancelled", { steps: cancelledStageSteps(w.mark.value) });
    await using run = startDrover(["exec", "--config", pluginConfig(w), job], {
      cwd: w.dir.path,
      env: w.env(),
    });
    await run.waitForStdout("started\n");
    run.kill("SIGINT");
    expect(await run.exited).toBe(3);
    expect(run.stdout()).toContain("stage gone: canceled");
    expect(run.stdout()).toContain("Job canceled");
    // hclog's text line, at hclog's level (warn shows at drover exec's default log level).
    const warning = logRecords(run.stderr()).find((r) =>
      String(r.msg).startsWith("stopping a cancelled stage"),
    );
    expect(warning).toMatchObject({
      level: 40,
      plugin: "hello-executor",
      module: "hello-executor",
      msg: "stopping a cancelled stage: script=build_script.sh",
    });
    await w.expectClean();
  });

  test("a second Ctrl-C: Cleanup is told that drover stopped the plugin, and the socket go-plugin left is removed", async () => {
    using w = world();
    const job = w.job("aborted", {
      steps: [
        { name: "script", script: ["echo started", "sleep 300"], timeout: 3600, when: "on_success" },
        { name: "after_script", script: ["echo after-started", "sleep 300"], timeout: 3600, when: "always" },
      ],
    });
    await using run = startDrover(["--log-level", "info", "exec", "--config", pluginConfig(w), job], {
      cwd: w.dir.path,
      env: w.env(),
    });
    await run.waitForStdout("started\n");
    // go-plugin 1.0.1's socket: outside drover's socket dir, in TMPDIR.
    const sockets = goPluginSockets(w);
    expect(sockets).toHaveLength(1);
    expect(lstatSync(sockets[0]!).isSocket()).toBe(true);
    run.kill("SIGINT");
    await run.waitForStdout("after-started\n");
    run.kill("SIGINT");
    expect(await run.exited).toBe(3);
    const out = run.stdout();
    expect(out).toContain(
      'WARNING: Cleanup script failed: plugin "hello-executor" was stopped by drover: the run was aborted',
    );
    expect(out).toContain("Job canceled");
    expect(`${out}${run.stderr()}`).not.toContain("health check");
    expect(out).not.toContain("died");
    // SIGKILLed, go-plugin could not remove its socket: drover did.
    expect(existsSync(sockets[0]!)).toBe(false);
    expect(
      logRecords(run.stderr()).find((r) => r.msg === "removed the socket the plugin left behind"),
    ).toMatchObject({
      socket: sockets[0],
    });
    await expectNoLeftovers(w.mark.entry);
    // What the plugin itself kept in TMPDIR stays (the page says so); nothing else does.
    expect(readdirSync(w.tmp).filter((name) => !name.startsWith("hello-executor-"))).toEqual([]);
  });

  test("SIGTERM to the plugin: it stops its stage and removes its socket and job dir itself, then exits", async () => {
    using w = world();
    const job = w.job("terminated", { script: STARTED_THEN_SLEEP });
    await using run = startDrover(["--log-level", "info", "exec", "--config", pluginConfig(w), job], {
      cwd: w.dir.path,
      env: w.env(),
    });
    await run.waitForStdout("started\n");
    const pid = pluginPid(w);
    expect(pid).toBeDefined();
    process.kill(pid!, "SIGTERM");
    expect(await run.exited).toBe(2);
    expect(run.stdout()).toContain('plugin "hello-executor" died (exit code 0)');
    // Nothing was left for drover to clean: no stage process to sweep, no socket to remove.
    const messages = logRecords(run.stderr()).map((r) => r.msg);
    expect(messages).toContain("SIGTERM: stopping");
    expect(messages).not.toContain("killed processes left behind by the plugin");
    expect(messages).not.toContain("removed the socket the plugin left behind");
    await w.expectClean();
  });

  test("drover SIGKILLed: the plugin sees its parent gone, stops its stage, removes its socket and job dir, exits", async () => {
    using w = world();
    const job = w.job("orphaned", { script: STARTED_THEN_SLEEP });
    await using run = startDrover(["exec", "--config", pluginConfig(w), job], {
      cwd: w.dir.path,
      env: w.env(),
    });
    await run.waitForStdout("started\n");
    const sockets = goPluginSockets(w);
    expect(sockets).toHaveLength(1);
    run.kill("SIGKILL");
    await run.exited;
    // Nobody cleans up after it: the plugin does, within its 500 ms parent check.
    await expectNoLeftovers(w.mark.entry);
    await waitFor("the plugin's socket and job dir to go", () =>
      readdirSync(w.tmp).every((name) => !/^plugin\d+$|^hello-executor-/.test(name)),
    );
    // (drover's own socket dir stays, for the next drover to remove: owned-temp-dirs.ts.)
    expect(readdirSync(w.tmp).every((name) => name.startsWith("drover-plugin-"))).toBe(true);
  });
});
