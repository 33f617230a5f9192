/**
 * The Python executor plugin (examples/python-executor): a plugin in another language, written with
 * Debian's python3-grpcio and python3-protobuf and code generated from proto/, speaks the launch
 * contract over real gRPC and runs jobs through the compiled binary.
 *
 * The Debian packages it needs are installed by .ci/run, never by a test: when one is missing, the
 * tests fail and say which (nothing is skipped).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { parse as parseToml } from "smol-toml";
import { Executor } from "../../kernel/gen/drover/plugin/v1/executor_pb.ts";
import { OutputStream, ResultKind } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import { PluginInfo, PluginKind } from "../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
import { Health, HealthCheckResponse_ServingStatus } from "../../kernel/gen/grpc/health/v1/health_pb.ts";
import { GRPCController } from "../../kernel/gen/plugin/grpc_controller_pb.ts";
import { createClient } from "../../kernel/protocol/grpc-service.ts";
import {
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
  NOT_RUN_DIRECTLY_MESSAGE,
  parseHandshake,
} from "../../kernel/protocol/handshake.ts";
import {
  cancelledStageSteps,
  cleanEnv,
  drover,
  ensureBuilt,
  expectNoLeftovers,
  jobJson,
  marker,
  processesWithEnv,
  ROOT,
  startDrover,
  startProcess,
  type TempDir,
  tempDir,
  waitFor,
} from "../harness.ts";

const EXAMPLE = join(ROOT, "examples", "python-executor");
const PLUGIN = join(EXAMPLE, "plugin.py");

/**
 * Runtime (grpcio, protobuf) and the generators generate.sh uses (to check gen/ is current): the
 * list .ci/run installs.
 */
const DEBIAN_PACKAGES = ["python3-grpcio", "python3-protobuf", "protobuf-compiler", "protobuf-compiler-grpc"];

/** The packages of DEBIAN_PACKAGES that dpkg does not have installed. */
function missingPackages(): string[] {
  return DEBIAN_PACKAGES.filter((name) => {
    try {
      const query = Bun.spawnSync(["dpkg", "-s", name], { stdout: "pipe", stderr: "pipe" });
      return !(query.exitCode === 0 && query.stdout.toString().includes("\nStatus: install ok installed\n"));
    } catch {
      return true; // no dpkg: not a Debian host, so not installed the way the plugin needs
    }
  });
}

beforeAll(() => {
  const missing = missingPackages();
  if (missing.length) {
    throw new Error(
      `the Python plugin tests need the Debian packages ${missing.join(", ")}, which are not installed: .ci/run installs them (as root), or: apt-get install ${missing.join(" ")}`,
    );
  }
  ensureBuilt();
});

/** Every file under `dir`, relative path → content. */
function tree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (at: string) => {
    for (const entry of readdirSync(at)) {
      const path = join(at, entry);
      if (entry === "__pycache__") continue;
      if (statSync(path).isDirectory()) walk(path);
      else files[relative(dir, path)] = readFileSync(path, "utf8");
    }
  };
  walk(dir);
  return files;
}

/** A config.toml with one runner that runs the plugin by its path. */
function pluginConfig(dir: TempDir, settings = ""): string {
  return dir.file(
    "config.toml",
    `concurrent = 2\n[[runners]]\n  name = "py"\n  executor = "plugin"\n  [runners.plugin]\n    path = "${PLUGIN}"\n${settings}`,
  );
}

/** The plugin started by hand as drover starts it, with typed clients on its socket. */
async function launch(dir: TempDir, extraEnv: Record<string, string> = {}) {
  const socketDir = join(dir.path, "sock");
  mkdirSync(socketDir, { mode: 0o700 });
  const proc = startProcess([PLUGIN], {
    cwd: dir.path,
    env: {
      ...cleanEnv(dir.path),
      [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE,
      PLUGIN_PROTOCOL_VERSIONS: "1",
      PLUGIN_UNIX_SOCKET_DIR: socketDir,
      ...extraEnv,
    },
  });
  // The handshake line (fails with what the plugin printed if it exits before one).
  await proc.waitForStdout("\n");
  const line = proc.stdout();
  const handshake = parseHandshake(line);
  if (!handshake.ok || handshake.handshake.address.network !== "unix") {
    throw new Error(`unexpected handshake ${JSON.stringify(line)}`);
  }
  const socket = handshake.handshake.address.path;
  const channel = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  return {
    proc,
    line,
    socket,
    socketDir,
    health: createClient(Health, channel),
    info: createClient(PluginInfo, channel),
    controller: createClient(GRPCController, channel),
    executor: createClient(Executor, channel),
    async [Symbol.asyncDispose]() {
      channel.close();
      await proc[Symbol.asyncDispose]();
    },
  };
}

type StageEvents = AsyncIterable<{
  event:
    | { case: "output"; value: { stream: OutputStream; data: Uint8Array } }
    | { case: "result"; value: { kind: ResultKind; exitCode: number; message: string } }
    | { case: undefined; value?: undefined };
}>;

/** Reads a stage stream to its end: the output per stream, and the result. */
async function collect(events: StageEvents, onOutput?: (text: string) => void) {
  const decoder = new TextDecoder();
  let stdout = "";
  let stderr = "";
  let result: { kind: ResultKind; exitCode: number; message: string } | undefined;
  for await (const { event } of events) {
    if (event.case === "output") {
      const text = decoder.decode(event.value.data);
      if (event.value.stream === OutputStream.STDOUT) stdout += text;
      else stderr += text;
      onOutput?.(stdout);
    } else if (event.case === "result") {
      const { kind, exitCode, message } = event.value;
      result = { kind, exitCode, message };
    }
  }
  return { stdout, stderr, result };
}

describe("examples/python-executor by itself", () => {
  test("run by hand (no cookie): the human sentence on stderr, exit 1", () => {
    using dir = tempDir();
    const run = Bun.spawnSync([PLUGIN], { cwd: dir.path, env: cleanEnv(dir.path), stderr: "pipe" });
    expect({ exitCode: run.exitCode, stdout: run.stdout.toString(), stderr: run.stderr.toString() }).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: `${NOT_RUN_DIRECTLY_MESSAGE}\n`,
    });
  });

  test("gen/ is exactly what generate.sh makes from proto/ today", () => {
    using dir = tempDir();
    const out = join(dir.path, "gen");
    const run = Bun.spawnSync([join(EXAMPLE, "generate.sh"), out], { stderr: "pipe" });
    expect({ exitCode: run.exitCode, stderr: run.stderr.toString() }).toEqual({ exitCode: 0, stderr: "" });
    // On a difference: run examples/python-executor/generate.sh and commit gen/.
    expect(tree(join(EXAMPLE, "gen"))).toEqual(tree(out));
  });

  test("no common protocol version: refuses with both lists, exit 1, no handshake", () => {
    using dir = tempDir();
    const run = Bun.spawnSync([PLUGIN], {
      cwd: dir.path,
      env: { ...cleanEnv(dir.path), [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE, PLUGIN_PROTOCOL_VERSIONS: "2,3" },
      stderr: "pipe",
    });
    expect(run.exitCode).toBe(1);
    expect(run.stdout.toString()).toBe("");
    expect(run.stderr.toString()).toContain(
      "no common plugin protocol version: drover offers 2,3, this plugin speaks 1",
    );
  });

  test("the contract over real gRPC: handshake, health, GetInfo = manifest, stages, cancel, cleanup, shutdown", async () => {
    using dir = tempDir();
    const mark = marker();
    await using plugin = await launch(dir, { [mark.name]: mark.value });
    expect(plugin.line).toBe(`1|1|unix|${plugin.socket}|grpc\n`);
    expect(plugin.socket.startsWith(`${plugin.socketDir}/`)).toBe(true);

    expect((await plugin.health.check({ service: "plugin" })).status).toBe(
      HealthCheckResponse_ServingStatus.SERVING,
    );
    const info = await plugin.info.getInfo({});
    const manifest = parseToml(readFileSync(join(EXAMPLE, "drover-plugin.toml"), "utf8"));
    expect({
      name: info.name,
      version: info.version,
      kind: info.kind,
      protocolVersions: info.protocolVersions,
      capabilities: info.capabilities,
    }).toEqual({
      name: manifest.name as string,
      version: manifest.version as string,
      kind: PluginKind.EXECUTOR,
      protocolVersions: manifest.protocol_versions as number[],
      capabilities: ["cancel"],
    });
    expect(manifest.kind).toBe("executor");
    expect(manifest.executable).toBe("plugin.py");
    const schema = JSON.parse(info.settingsSchema);
    expect(schema.type).toBe("object");
    expect(Object.keys(schema.properties).sort()).toEqual(["base_dir", "stage_grace_seconds"]);
    expect(schema.additionalProperties).toBe(false);

    // Configure: a job directory under base_dir.
    const base = join(dir.path, "base");
    const job = {
      jobId: "j1",
      runnerSettingsJson: JSON.stringify({ base_dir: base, stage_grace_seconds: 2 }),
    };
    const configured = [];
    for await (const event of plugin.executor.configure({ job })) configured.push(event.event);
    expect(configured.length).toBe(1);
    const configResult = configured[0]?.case === "result" ? configured[0].value : undefined;
    expect(configResult?.status?.kind).toBe(ResultKind.SUCCESS);
    expect(configResult?.config?.buildsDir.startsWith(`${base}/`)).toBe(true);
    expect(configResult?.config?.driver).toMatchObject({ name: "python-executor", version: info.version });
    expect(readdirSync(base).length).toBe(1);

    expect((await collect(plugin.executor.prepare({ job }))).result?.kind).toBe(ResultKind.SUCCESS);

    // Run: output arrives as it is printed (the script waits for a file the test creates only
    // after it has seen the first line), per stream; the exit code is the result.
    const go = join(dir.path, "go");
    const streamed = await collect(
      plugin.executor.run({
        jobId: "j1",
        stage: "build_script",
        script: `echo one; echo two >&2; while [ ! -e '${go}' ]; do sleep 0.01; done; echo three; exit 4\n`,
      }),
      (stdout) => {
        if (stdout.includes("one\n") && !existsSync(go)) dir.file("go", "");
      },
    );
    expect(streamed).toEqual({
      stdout: "one\nthree\n",
      stderr: "two\n",
      result: { kind: ResultKind.BUILD_FAILURE, exitCode: 4, message: "exit status 4" },
    });
    expect(await collect(plugin.executor.run({ jobId: "j1", stage: "ok", script: "true\n" }))).toEqual({
      stdout: "",
      stderr: "",
      result: { kind: ResultKind.SUCCESS, exitCode: 0, message: "" },
    });
    expect(
      (await collect(plugin.executor.run({ jobId: "j1", stage: "s", script: "kill -9 $$\n" }))).result,
    ).toEqual({ kind: ResultKind.BUILD_FAILURE, exitCode: 137, message: "terminated by SIGKILL" });
    expect(
      (await collect(plugin.executor.run({ jobId: "nope", stage: "s", script: "true\n" }))).result,
    ).toEqual({
      kind: ResultKind.SYSTEM_FAILURE,
      exitCode: 0,
      message: "unknown job 'nope'",
    });

    // Cancel: the stage and a background child in its group are stopped; only the plugin is left.
    const others = () => processesWithEnv(mark.entry).filter((pid) => pid !== plugin.proc.pid);
    const abort = new AbortController();
    const cancelled = collect(
      plugin.executor.run(
        { jobId: "j1", stage: "build_script", script: "sleep 300 & echo ready; sleep 300\n" },
        { signal: abort.signal },
      ),
      (stdout) => {
        if (stdout.includes("ready")) abort.abort();
      },
    );
    const error = await cancelled.then(
      () => undefined,
      (err: grpc.ServiceError) => err,
    );
    expect(error?.code).toBe(grpc.status.CANCELLED);
    await waitFor("the cancelled stage's processes to be gone", () => others().length === 0);

    // Cleanup removes the job's directory; the plugin keeps serving.
    expect((await collect(plugin.executor.cleanup({ jobId: "j1" }))).result?.kind).toBe(ResultKind.SUCCESS);
    expect(readdirSync(base)).toEqual([]);

    // Shutdown: answers, exits 0, removes its socket.
    await plugin.controller.shutdown({});
    expect(await plugin.proc.exited).toBe(0);
    expect(existsSync(plugin.socket)).toBe(false);
    await expectNoLeftovers(mark.entry);
  }, 30_000);

  test("bash cannot be started: the stage is a system failure", async () => {
    using dir = tempDir();
    await using plugin = await launch(dir, { PATH: join(dir.path, "empty") });
    const job = { jobId: "j", runnerSettingsJson: "" };
    for await (const _ of plugin.executor.configure({ job })) {
      // the result only
    }
    const run = await collect(plugin.executor.run({ jobId: "j", stage: "build_script", script: "true\n" }));
    expect(run.result?.kind).toBe(ResultKind.SYSTEM_FAILURE);
    expect(run.result?.message).toContain("could not start bash");
    expect((await collect(plugin.executor.cleanup({ jobId: "j" }))).result?.kind).toBe(ResultKind.SUCCESS);
  });
});

describe("drover exec with [runners.plugin] path = examples/python-executor/plugin.py", () => {
  test("output is streamed into the job log as the script prints it; success exits 0", async () => {
    using dir = tempDir();
    const mark = marker();
    const go = join(dir.path, "go");
    await using run = startDrover(
      [
        "exec",
        "--config",
        pluginConfig(dir),
        "--",
        "echo first-line",
        "echo to-stderr >&2",
        `while [ ! -e '${go}' ]; do sleep 0.01; done`,
        "echo second-line",
      ],
      { cwd: dir.path, env: cleanEnv(dir.path, { [mark.name]: mark.value }) },
    );
    await run.waitForStdout("first-line\n");
    expect(run.stdout()).not.toContain("second-line\n");
    dir.file("go", "");
    expect(await run.exited).toBe(0);
    const stdout = run.stdout();
    expect(stdout).toContain('Using plugin "plugin.py" executor with driver python-executor 0.1.0...');
    expect(stdout).toContain("to-stderr\n");
    expect(stdout).toContain("second-line\n");
    expect(stdout).toContain("Job succeeded");
    await expectNoLeftovers(mark.entry);
  });

  test("a failing script: exit 1, the script's exit code in the log, after_script still runs", async () => {
    using dir = tempDir();
    const mark = marker();
    const job = dir.file(
      "job.json",
      jobJson({
        steps: [
          {
            name: "script",
            script: ["echo before", "exit 3", "echo never"],
            timeout: 3600,
            when: "on_success",
          },
          { name: "after_script", script: ['echo "after: $CI_JOB_STATUS"'], timeout: 3600, when: "always" },
        ],
      }),
    );
    const result = await drover(["exec", "--config", pluginConfig(dir), job], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });
    expect(result.stdout).toContain("before\n");
    expect(result.stdout).not.toContain("never\n");
    expect(result.stdout).toContain("after: failed");
    expect(result.stdout).toContain("exit code 3");
    expect(result.exitCode).toBe(1);
    await expectNoLeftovers(mark.entry);
  });

  test("settings: jobs go under base_dir, two at once, each its own directory, all removed after", async () => {
    using dir = tempDir();
    const base = join(dir.path, "jobs");
    const config = pluginConfig(dir, `    [runners.plugin.settings]\n    base_dir = "${base}"\n`);
    const script = ['echo "builds=$CI_BUILDS_DIR"', "sleep 0.3"];
    const a = dir.file("a.json", jobJson({ id: 2001, job_info: { name: "a" }, script }));
    const b = dir.file("b.json", jobJson({ id: 2002, job_info: { name: "b" }, script }));
    const result = await drover(["exec", "--config", config, a, b], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.exitCode).toBe(0);
    const builds = [...result.stdout.matchAll(/\[(a|b)\] builds=(\S+)/g)].map(
      (m) => [m[1], m[2] ?? ""] as const,
    );
    expect(builds.map(([name]) => name).sort()).toEqual(["a", "b"]);
    for (const [, path] of builds) expect(path.startsWith(`${base}/job-`)).toBe(true);
    expect(new Set(builds.map(([, path]) => path)).size).toBe(2);
    expect(readdirSync(base)).toEqual([]);
  });

  test("a setting of the wrong type is a configuration error naming the key (exit 78)", async () => {
    using dir = tempDir();
    const config = pluginConfig(dir, '    [runners.plugin.settings]\n    stage_grace_seconds = "soon"\n');
    const result = await drover(["exec", "--config", config, "--", "echo never"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.exitCode).toBe(78);
    expect(`${result.stdout}${result.stderr}`).toContain("stage_grace_seconds");
    expect(result.stdout).not.toContain("never\n");
  });

  test("Ctrl-C: the plugin kills the stage's process group; after_script sees it gone; exit 3; nothing left", async () => {
    using dir = tempDir();
    const mark = marker();
    // A background child in the stage's group; after_script sees whether it is gone (cancelledStageSteps).
    const job = dir.file("job.json", jobJson({ steps: cancelledStageSteps(mark.value) }));
    await using run = startDrover(["--log-level", "info", "exec", "--config", pluginConfig(dir), job], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });
    await run.waitForStdout("started\n");
    run.kill("SIGINT");
    expect(await run.exited).toBe(3);
    expect(run.stdout()).toContain("stage gone: canceled");
    expect(run.stdout()).toContain("Job canceled");
    // It was the plugin that stopped the stage (not drover's sweep at exit).
    expect(run.stderr()).toContain("stopping stage");
    await expectNoLeftovers(mark.entry);
  });
});

describe("examples/python-executor installed", () => {
  test("drover plugin install of the manifest dir, then a job by name", async () => {
    using dir = tempDir();
    const env = cleanEnv(dir.path, { DROVER_PLUGIN_DIR: join(dir.path, "plugins") });
    const installed = await drover(["plugin", "install", EXAMPLE], { cwd: dir.path, env });
    expect(installed.stdout).toContain("installed python-executor");
    expect(installed.exitCode).toBe(0);
    const config = dir.file(
      "installed.toml",
      '[[runners]]\n  name = "py"\n  executor = "plugin"\n  [runners.plugin]\n    name = "python-executor"\n    version = "^0.1"\n',
    );
    const job = await drover(["exec", "--config", config, "--", "echo hello from python"], {
      cwd: dir.path,
      env,
    });
    expect(job.stdout).toContain("hello from python");
    expect(job.exitCode).toBe(0);
    const verify = await drover(["plugin", "verify"], { cwd: dir.path, env });
    expect(verify.stdout).toContain("ok      python-executor");
    expect(verify.exitCode).toBe(0);
  });
});
