// The plugin SDK as an npm package, under plain Node (>= 20), no Bun at run time:
//
//   node --test test/sdk-node/sdk.node.mjs       (test/sdk-node/node.test.ts runs this from `bun test`)
//
// Builds @drover/plugin-sdk, packs it with `npm pack` and unpacks the tarball into a temp "consumer
// project" (node_modules/@drover/plugin-sdk, its two dependencies linked from this checkout), runs
// hello-executor.mjs from there with node, and checks the launch contract over real gRPC, a job
// through the compiled dist/drover, and the declarations.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const DROVER = join(ROOT, "dist", "drover");
const COOKIE = { DROVER_PLUGIN_MAGIC_COOKIE: "d7c1a7e2-drover-plugin-5b0f3e9a" };
const NOT_RUN_DIRECTLY = "This binary is a drover plugin. It is started by drover, not run directly.";

/** The consumer project: node_modules/@drover/plugin-sdk (built), plugin.mjs, plugin.sh. */
let project;
let sdk;

/** What `npm pack` put in the SDK's tarball: its file list, as npm reports it. */
let packed;

before(() => {
  project = mkdtempSync(join(tmpdir(), "drover-sdk-node-"));
  const modules = join(project, "node_modules");
  // Built as plugins/sdk/build.ts says to publish it, packed by the real `npm pack`, and unpacked
  // where `npm install` would put the tarball: what is tested is what would be published.
  const built = join(project, "built");
  execFileSync(BUN, [join(ROOT, "plugins", "sdk", "build.ts"), "--outdir", built], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  const pack = execFileSync("npm", ["pack", "--json", "--pack-destination", project], {
    cwd: built,
    env: { ...env(), npm_config_cache: join(project, "npm-cache"), npm_config_update_notifier: "false" },
    encoding: "utf8",
  });
  [packed] = JSON.parse(pack);
  mkdirSync(join(modules, "@drover", "plugin-sdk"), { recursive: true });
  execFileSync("tar", [
    "-xzf",
    join(project, packed.filename),
    "-C",
    join(modules, "@drover", "plugin-sdk"),
    "--strip-components=1",
  ]);
  // What `npm install @drover/plugin-sdk` would add beside it, linked from this checkout.
  for (const dep of ["@grpc/grpc-js", "@bufbuild/protobuf", "@types/node"]) {
    mkdirSync(dirname(join(modules, dep)), { recursive: true });
    symlinkSync(join(ROOT, "node_modules", dep), join(modules, dep));
  }
  copyFileSync(join(HERE, "hello-executor.mjs"), join(project, "plugin.mjs"));
  writeFileSync(
    join(project, "plugin.sh"),
    `#!/bin/sh\nexec '${process.execPath}' '${join(project, "plugin.mjs")}'\n`,
  );
  chmodSync(join(project, "plugin.sh"), 0o755);
});

after(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

function env(extra = {}) {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: project, LANG: "C.UTF-8", ...extra };
}

/** Pids of live (non-zombie) processes whose environment holds `entry`. */
function processesWithEnv(entry) {
  const found = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      if (readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(entry)) found.push(Number(pid));
    } catch {
      // gone
    }
  }
  return found;
}

async function waitFor(what, condition, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A unary or server-streaming call with raw bytes in and out. */
function unary(client, path, request) {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      path,
      (bytes) => Buffer.from(bytes),
      (bytes) => new Uint8Array(bytes),
      request,
      (err, value) => (err ? reject(err) : resolve(value)),
    ),
  );
}

async function stream(client, path, request) {
  const messages = [];
  const call = client.makeServerStreamRequest(
    path,
    (bytes) => Buffer.from(bytes),
    (bytes) => new Uint8Array(bytes),
    request,
  );
  for await (const message of call) messages.push(message);
  return messages;
}

/** GetInfoResponse, decoded field by field (the SDK exports no PluginInfo schema). */
function decodeInfo(bytes) {
  const info = { name: "", version: "", kind: 0, protocolVersions: [], capabilities: [], settingsSchema: "" };
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) info.name = reader.string();
    else if (field === 2) info.version = reader.string();
    else if (field === 3) info.kind = reader.int32();
    else if (field === 4 && wireType === WireType.LengthDelimited) {
      const end = reader.uint32() + reader.pos;
      while (reader.pos < end) info.protocolVersions.push(reader.uint32());
    } else if (field === 4) info.protocolVersions.push(reader.uint32());
    else if (field === 5) info.capabilities.push(reader.string());
    else if (field === 6) info.settingsSchema = reader.string();
    else reader.skip(wireType);
  }
  return info;
}

describe("@drover/plugin-sdk under Node", () => {
  before(async () => {
    sdk = await import(
      pathToFileURL(join(project, "node_modules", "@drover", "plugin-sdk", "dist", "index.js")).href
    );
  });

  test("the SDK sources and the built bundle use no Bun-only API", () => {
    const sources = readdirSync(join(ROOT, "plugins", "sdk")).filter((name) => name.endsWith(".ts"));
    const dist = join(project, "node_modules", "@drover", "plugin-sdk", "dist");
    const files = [
      ...sources.map((name) => join(ROOT, "plugins", "sdk", name)),
      ...readdirSync(dist)
        .filter((name) => name.endsWith(".js"))
        .map((name) => join(dist, name)),
    ];
    const offending = files.filter((file) =>
      /\bBun\.\w|from\s+["']bun(:|["'])/.test(readFileSync(file, "utf8")),
    );
    assert.deepEqual(offending, []);
  });

  test("npm pack ships the built package and nothing else, at drover's version", () => {
    const rootPkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    assert.equal(packed.name, "@drover/plugin-sdk");
    // The SDK speaks the protocol of the drover it is released with: one version for both.
    assert.equal(packed.version, rootPkg.version);
    const files = packed.files.map((f) => f.path).sort();
    for (const file of [
      "package.json",
      "README.md",
      "dist/index.js",
      "dist/index.d.ts",
      "dist/kernel/errors.d.ts",
    ])
      assert.ok(files.includes(file), `${file} is in the tarball`);
    const unexpected = files.filter(
      (f) => !(f === "package.json" || f === "README.md" || f.startsWith("dist/")),
    );
    assert.deepEqual(unexpected, []);
    assert.ok(!files.some((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")), "no TypeScript sources");
  });

  test("the package's exports resolve to built files", () => {
    const pkgDir = join(project, "node_modules", "@drover", "plugin-sdk");
    const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
    const rootPkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    assert.equal(pkg.type, "module");
    for (const dep of ["@grpc/grpc-js", "@bufbuild/protobuf"]) {
      assert.equal(
        pkg.dependencies[dep],
        rootPkg.dependencies[dep],
        `${dep}: the root package.json's version`,
      );
    }
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      const files = typeof target === "string" ? [target] : Object.values(target);
      for (const file of files) assert.ok(existsSync(join(pkgDir, file)), `${subpath} → ${file}`);
    }
    assert.equal(typeof sdk.serveExecutor, "function");
    assert.equal(typeof sdk.serveLifecycle, "function");
  });

  test("run by hand (no cookie): the human sentence, exit 1", () => {
    const run = spawnSync(process.execPath, [join(project, "plugin.mjs")], { env: env(), encoding: "utf8" });
    assert.deepEqual(
      { status: run.status, stdout: run.stdout, stderr: run.stderr },
      { status: 1, stdout: "", stderr: `${NOT_RUN_DIRECTLY}\n` },
    );
  });

  test("handshake, health, GetInfo, Configure/Run/Cleanup and Shutdown over real gRPC", {
    timeout: 30_000,
  }, async () => {
    const socketDir = mkdtempSync(join(tmpdir(), "drover-sdk-sock-"));
    const child = spawn(process.execPath, [join(project, "plugin.mjs")], {
      env: env({ ...COOKIE, PLUGIN_PROTOCOL_VERSIONS: "1", PLUGIN_UNIX_SOCKET_DIR: socketDir }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    let client;
    try {
      const line = await new Promise((resolve, reject) => {
        let text = "";
        child.stdout.on("data", (chunk) => {
          text += chunk;
          if (text.includes("\n")) resolve(text);
        });
        child.once("exit", () => reject(new Error(`plugin exited before its handshake: ${stderr}`)));
      });
      const match = /^1\|1\|unix\|(\/[^|]+)\|grpc\n$/.exec(line);
      assert.ok(match, `handshake line ${JSON.stringify(line)}`);
      const socket = match[1];
      assert.equal(dirname(socket), socketDir);
      client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());

      const health = await unary(
        client,
        "/grpc.health.v1.Health/Check",
        new BinaryWriter().tag(1, WireType.LengthDelimited).string("plugin").finish(),
      );
      assert.deepEqual([...health], [0x08, 0x01]); // status = SERVING

      const info = decodeInfo(await unary(client, "/drover.plugin.v1.PluginInfo/GetInfo", new Uint8Array()));
      assert.deepEqual(info, {
        name: "hello-node",
        version: "0.2.0",
        kind: 1, // PLUGIN_KIND_EXECUTOR
        protocolVersions: [1],
        capabilities: ["cancel"],
        settingsSchema: JSON.stringify({ type: "object", properties: { greeting: { type: "string" } } }),
      });

      const job = { jobId: "n1", runnerSettingsJson: "{}" };
      const configured = await stream(
        client,
        "/drover.plugin.v1.Executor/Configure",
        toBinary(sdk.ConfigureRequestSchema, create(sdk.ConfigureRequestSchema, { job })),
      );
      const config = fromBinary(sdk.ConfigureEventSchema, configured[0]);
      assert.equal(config.event.case, "result");
      assert.equal(config.event.value.status.kind, sdk.ResultKind.SUCCESS);
      assert.equal(config.event.value.config.driver.name, "hello-node");

      const events = (
        await stream(
          client,
          "/drover.plugin.v1.Executor/Run",
          toBinary(
            sdk.RunRequestSchema,
            create(sdk.RunRequestSchema, {
              jobId: "n1",
              stage: "build_script",
              script: "echo out; echo err >&2; exit 3\n",
            }),
          ),
        )
      ).map((bytes) => fromBinary(sdk.StageEventSchema, bytes).event);
      const text = (stream) =>
        events
          .filter((e) => e.case === "output" && e.value.stream === stream)
          .map((e) => Buffer.from(e.value.data).toString())
          .join("");
      assert.deepEqual(
        {
          stdout: text(sdk.OutputStream.STDOUT),
          stderr: text(sdk.OutputStream.STDERR),
          result: events
            .filter((e) => e.case === "result")
            .map(({ value }) => [value.kind, value.exitCode, value.message]),
        },
        { stdout: "out\n", stderr: "err\n", result: [[sdk.ResultKind.BUILD_FAILURE, 3, "exit status 3"]] },
      );

      const cleaned = await stream(
        client,
        "/drover.plugin.v1.Executor/Cleanup",
        toBinary(sdk.CleanupRequestSchema, create(sdk.CleanupRequestSchema, { jobId: "n1" })),
      );
      assert.equal(fromBinary(sdk.StageEventSchema, cleaned.at(-1)).event.value.kind, sdk.ResultKind.SUCCESS);

      await unary(client, "/plugin.GRPCController/Shutdown", new Uint8Array());
      assert.deepEqual(await exited, { code: 0, signal: null });
      assert.equal(existsSync(socket), false);
    } finally {
      client?.close();
      child.kill("SIGKILL");
      rmSync(socketDir, { recursive: true, force: true });
    }
  });

  test("drover exec runs a job through the Node plugin ([runners.plugin] path = a sh wrapper)", {
    timeout: 60_000,
  }, async () => {
    if (!existsSync(DROVER)) {
      execFileSync(BUN, [join(ROOT, "scripts", "build.ts")], {
        cwd: ROOT,
        stdio: ["ignore", "ignore", "inherit"],
      });
    }
    const work = mkdtempSync(join(project, "work-"));
    const config = join(work, "config.toml");
    writeFileSync(
      config,
      `[[runners]]\n  name = "node"\n  executor = "plugin"\n  [runners.plugin]\n    path = "${join(project, "plugin.sh")}"\n`,
    );
    const marker = `DROVER_TEST_MARKER=sdk-node-${process.pid}`;
    const drover = (...commands) =>
      spawnSync(DROVER, ["exec", "--config", config, "--", ...commands], {
        cwd: work,
        env: env({ DROVER_TEST_MARKER: marker.split("=")[1], XDG_CONFIG_HOME: join(work, ".config") }),
        encoding: "utf8",
      });
    const ok = drover("echo from-a-node-plugin", "echo to-stderr >&2");
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /Using plugin "plugin\.sh" executor with driver hello-node 0\.2\.0\.\.\./);
    assert.match(ok.stdout, new RegExp(`hello from node ${process.version.replaceAll(".", "\\.")}`));
    assert.match(ok.stdout, /\nfrom-a-node-plugin\n/);
    assert.match(ok.stdout, /\nto-stderr\n/);
    const failing = drover("exit 3");
    assert.equal(failing.status, 1, failing.stdout + failing.stderr);
    assert.match(failing.stdout, /exit code 3/);
    await waitFor(`no process with ${marker} left`, () => processesWithEnv(marker).length === 0);
  });

  test("the declarations type-check a consumer (tsc, moduleResolution nodenext)", { timeout: 60_000 }, () => {
    const dir = mkdtempSync(join(project, "consumer-"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          types: ["node"],
          strict: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
        },
        files: ["consumer.ts"],
      }),
    );
    writeFileSync(
      join(dir, "consumer.ts"),
      [
        'import { type ExecutorHandlers, mergeOutput, output, result, ResultKind, type RunRequest, serveExecutor, startChild, stageResultFromExit } from "@drover/plugin-sdk";',
        "const handlers: ExecutorHandlers = {",
        "  async *configure() { yield { event: { case: 'result', value: { status: { kind: ResultKind.SUCCESS } } } }; },",
        "  async *prepare() { yield result(ResultKind.SUCCESS); },",
        "  async *run(request: RunRequest) { yield output('stdout', request.stage); yield result(ResultKind.SUCCESS); },",
        "  async *cleanup() { yield result(ResultKind.SUCCESS); },",
        "};",
        "const stage: string = (null as unknown as RunRequest).stage;",
        "void stage; void mergeOutput;",
        "export const exitResult = async () => stageResultFromExit(await startChild({ name: 'x', command: 'true', env: {}, graceMs: 1 }).exited);",
        "export const started: Promise<void> = serveExecutor({ info: { name: 'x', version: '1.0.0' }, handlers });",
        "// @ts-expect-error: the result kind is an enum, not a string",
        "result('success');",
        "",
      ].join("\n"),
    );
    const tsc = spawnSync(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", dir], { encoding: "utf8" });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  });
});
