/**
 * Installing plugins from where they are published (docs/installing-plugins.md, "Sources"), against
 * real servers on 127.0.0.1 that the tests start: a real npm registry (Verdaccio) that the real
 * `npm publish` publishes to, and a plain HTTP server for tarball URLs. Every download is verified
 * before anything in it runs; `drover plugin sync` installs what config.toml declares, and
 * `--frozen` never fetches.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readLock } from "../../src/plugin/install/lock.ts";
import { lockPath } from "../../src/plugin/install/plugin-dir.ts";
import { NpmRegistry } from "../fixtures/npm-registry.ts";
import {
  BUN,
  cleanEnv,
  drover,
  ensureBuilt,
  FIXTURES,
  runProcess,
  type TempDir,
  tempDir,
} from "../harness.ts";

ensureBuilt();

const LIFECYCLE = join(FIXTURES, "plugins", "ts-lifecycle", "src");
const VERSIONED = join(FIXTURES, "plugins", "versioned-executor.ts");

/** The ts-lifecycle fixture as an npm package (TypeScript sources, `main` in its manifest), at `version`. */
function envReportPackage(dir: TempDir, version: string): string {
  const source = (file: string) => readFileSync(join(LIFECYCLE, file), "utf8").replaceAll("2.1.0", version);
  return NpmRegistry.packageDir(
    dir,
    { name: "@acme/drover-env-report", version, files: ["drover-plugin.toml", "src"] },
    {
      "drover-plugin.toml": `name = "env-report"\nversion = "${version}"\nkind = "lifecycle"\nprotocol_versions = [1]\nmain = "src/main.ts"\n`,
      "src/main.ts": source("main.ts"),
      "src/describe.ts": source("describe.ts"),
    },
  );
}

let registry: NpmRegistry;
let packages: TempDir;

beforeAll(async () => {
  registry = await NpmRegistry.start();
  packages = tempDir("drover-packages-");
  for (const version of ["1.0.0", "2.0.0", "2.3.1"])
    await registry.publish(envReportPackage(packages, version));
  await registry.publish(envReportPackage(packages, "3.0.0-rc.1"), "next");
}, 120_000);

afterAll(async () => {
  await registry?.[Symbol.asyncDispose]();
  packages?.[Symbol.dispose]();
});

function setup(dir: TempDir) {
  const plugins = join(dir.path, "plugins");
  const env = cleanEnv(dir.path, { DROVER_PLUGIN_DIR: plugins });
  const run = (args: string[]) => drover(args, { cwd: dir.path, env });
  /** `drover plugin install SPECIFIER` from the test registry. */
  const install = (specifier: string) => run(["plugin", "install", specifier, "--registry", registry.url]);
  return { plugins, run, install, lock: () => readLock(lockPath(plugins)) };
}

let configs = 0;

/** A config.toml whose hooks use env-report declared with `source`, writing its report to `report`. */
function hooksConfig(dir: TempDir, source: string, registryUrl: string, version = "^2"): string {
  return dir.file(
    `config-${++configs}.toml`,
    [
      `plugin_registry = ${JSON.stringify(registryUrl)}`,
      "[[hooks.plugins]]",
      '  name = "env-report"',
      `  version = ${JSON.stringify(version)}`,
      `  source = ${JSON.stringify(source)}`,
      "  [hooks.plugins.settings]",
      `    file = ${JSON.stringify(join(dir.path, "report.txt"))}`,
      "[[runners]]",
      '  name = "local"',
      '  executor = "shell"',
      `  builds_dir = ${JSON.stringify(join(dir.path, "builds"))}`,
      "",
    ].join("\n"),
  );
}

describe("npm: sources", () => {
  test("a range resolves as npm resolves it; the registry's sha512 is checked and locked; the plugin runs", async () => {
    using dir = tempDir();
    const { run, install, lock } = setup(dir);
    const installed = await install("npm:@acme/drover-env-report@^2");
    expect(installed.stderr).toBe("");
    expect(installed.exitCode).toBe(0);
    expect(installed.stdout).toContain("installed env-report 2.3.1 (lifecycle)");
    const packument = (await (await fetch(`${registry.url}@acme%2fdrover-env-report`)).json()) as {
      versions: Record<string, { dist: { integrity: string; tarball: string } }>;
    };
    const dist = packument.versions["2.3.1"]!.dist;
    expect(lock().plugins[0]).toMatchObject({
      name: "env-report",
      version: "2.3.1",
      runtime: "drover",
      source: {
        specifier: "npm:@acme/drover-env-report@^2",
        package: "@acme/drover-env-report@2.3.1",
        tarball: dist.tarball,
        integrity: dist.integrity,
      },
    });
    // Without a range: the latest dist-tag (the release candidate is not latest).
    const latest = await install("npm:@acme/drover-env-report");
    expect(latest.stdout).toContain("installed env-report 2.3.1");
    const rc = await install("npm:@acme/drover-env-report@3.0.0-rc.1");
    expect(rc.stdout).toContain("installed env-report 3.0.0-rc.1");
    const none = await install("npm:@acme/drover-env-report@^4");
    expect(none.stderr).toContain(
      `has no version of @acme/drover-env-report matching "^4" (versions: 1.0.0, 2.0.0, 2.3.1, 3.0.0-rc.1)`,
    );
    expect(none.exitCode).toBe(2);

    const config = hooksConfig(dir, "npm:@acme/drover-env-report@^2", registry.url);
    const job = await run(["exec", "--config", config, "--", "true"]);
    expect(job.exitCode).toBe(0);
    expect(readFileSync(join(dir.path, "report.txt"), "utf8")).toContain("BUN_BE_BUN=unset");
  }, 60_000);

  test("a tampered tarball in the registry: refused, naming both digests; nothing installed", async () => {
    using dir = tempDir();
    const { plugins, install } = setup(dir);
    const tarball = registry.tarball("@acme/drover-env-report", "1.0.0");
    const original = readFileSync(tarball);
    try {
      writeFileSync(tarball, Buffer.concat([original, Buffer.from("tampered")]));
      const installed = await install("npm:@acme/drover-env-report@1.0.0");
      expect(installed.stderr).toMatch(
        /refusing to install @acme\/drover-env-report@1\.0\.0 \(http:\/\/127\.0\.0\.1:\d+\/.*\.tgz\): it is not what was pinned: the registry's integrity is sha512-\S+, the download is sha512-\S+/,
      );
      expect(installed.exitCode).toBe(2);
      expect(readLock(lockPath(plugins)).plugins).toEqual([]);
    } finally {
      writeFileSync(tarball, original);
    }
  });

  test("a downloaded plugin importing what it does not ship: refused, even when a parent directory has it", async () => {
    using dir = tempDir();
    const { plugins, install } = setup(dir);
    await registry.publish(
      NpmRegistry.packageDir(
        packages,
        { name: "@acme/drover-sneaky", version: "1.0.0" },
        {
          "drover-plugin.toml":
            'name = "sneaky"\nversion = "1.0.0"\nkind = "lifecycle"\nprotocol_versions = [1]\nmain = "main.ts"\n',
          "main.ts":
            'import { serveLifecycle } from "@drover/plugin-sdk";\nimport planted from "planted";\nconsole.log(planted, serveLifecycle);\n',
        },
      ),
    );
    // What another user could leave above the plugin dir (here: beside it, in the same parent).
    mkdirSync(join(dir.path, "node_modules", "planted"), { recursive: true });
    dir.file("node_modules/planted/package.json", '{"name":"planted","main":"index.js"}\n');
    dir.file("node_modules/planted/index.js", "module.exports = 'planted code';\n");
    const installed = await install("npm:@acme/drover-sneaky@1");
    expect(installed.stderr).toContain('"planted" is ');
    expect(installed.stderr).toContain(
      "outside the package; a downloaded plugin may import only what it ships",
    );
    expect(installed.exitCode).toBe(64);
    expect(readLock(lockPath(plugins)).plugins).toEqual([]);
  });

  test("the registry down: one line naming the registry, exit 2", async () => {
    using dir = tempDir();
    const { run } = setup(dir);
    const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const url = `http://127.0.0.1:${closed.port}/`;
    closed.stop(true);
    const installed = await run(["plugin", "install", "npm:@acme/drover-env-report@^2", "--registry", url]);
    expect(installed.stderr.trim()).toBe(
      `drover: cannot install npm:@acme/drover-env-report@^2: cannot ask the npm registry ${url} for @acme/drover-env-report: cannot download ${url}@acme%2fdrover-env-report: connection refused`,
    );
    expect(installed.exitCode).toBe(2);
  });

  test("a package with an executable per platform: the one for this host is installed, checked the same way", async () => {
    using dir = tempDir();
    const { run, install, lock } = setup(dir);
    const platform = `${process.platform}-${process.arch}`;
    const version = "3.0.0";
    const manifest = (program: string) =>
      `name = "versioned"\nversion = "${version}"\nkind = "executor"\nprotocol_versions = [1]\n${program}\n`;
    await registry.publish(
      NpmRegistry.packageDir(
        packages,
        { name: `@acme/drover-native-${platform}`, version },
        {
          "drover-plugin.toml": manifest('executable = "bin/plugin"'),
          "bin/plugin": `#!/bin/sh\nexec '${BUN}' '${VERSIONED}' ${version} "$@"\n`,
        },
      ),
    );
    await registry.publish(
      NpmRegistry.packageDir(
        packages,
        { name: "@acme/drover-native", version },
        {
          "drover-plugin.toml": manifest(
            `[platform_packages]\n${platform} = "@acme/drover-native-${platform}"\nplan9-mips = "@acme/drover-native-plan9-mips"`,
          ),
        },
      ),
    );
    const installed = await install("npm:@acme/drover-native@3");
    expect(installed.stderr).toBe("");
    expect(installed.stdout).toContain("installed versioned 3.0.0 (executor)");
    const entry = lock().plugins[0]!;
    expect(entry.source?.package).toBe("@acme/drover-native@3.0.0");
    expect(entry.source?.platformPackage?.package).toBe(`@acme/drover-native-${platform}@3.0.0`);
    expect(entry.source?.platformPackage?.integrity).toMatch(/^sha512-/);
    const config = dir.file(
      "config.toml",
      `[[runners]]\n  name = "vm"\n  executor = "plugin"\n  builds_dir = "${dir.path}/builds"\n  [runners.plugin]\n    name = "versioned"\n`,
    );
    const job = await run(["exec", "--config", config, "--", "echo native"]);
    expect(job.stdout).toContain("versioned plugin 3.0.0 preparing");
    expect(job.exitCode).toBe(0);
  }, 60_000);
});

describe("drover plugin sync", () => {
  test("installs what config.toml declares; run and exec never fetch; --frozen works with the registry down and fails on what is missing", async () => {
    using dir = tempDir();
    const { plugins, run } = setup(dir);
    const source = "npm:@acme/drover-env-report@^2";
    const config = hooksConfig(dir, source, registry.url);
    const before = await run(["exec", "--config", config, "--", "true"]);
    expect(before.stderr).toContain(
      `hooks.plugins: plugin "env-report" matching "^2" from ${source} is not installed; install it with: drover plugin sync`,
    );
    expect(before.exitCode).toBe(78);

    const frozenEmpty = await run(["plugin", "sync", "--frozen", "--config", config]);
    expect(frozenEmpty.stderr).toContain(
      "plugin sync --frozen: 1 declared plugin(s) not installed as config.toml says",
    );
    expect(frozenEmpty.exitCode).toBe(78);

    const synced = await run(["plugin", "sync", "--config", config]);
    expect(synced.stdout).toContain(
      `installed  env-report 2.3.1  ${source} (@acme/drover-env-report@2.3.1, sha512-`,
    );
    expect(synced.exitCode).toBe(0);
    const again = await run(["plugin", "sync", "--config", config]);
    expect(again.stdout).toBe(`ok         env-report 2.3.1  ${source}\n`);

    // --frozen asks no registry: point config at one that is down.
    const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const down = `http://127.0.0.1:${closed.port}/`;
    closed.stop(true);
    const offline = hooksConfig(dir, source, down);
    const frozen = await run(["plugin", "sync", "--frozen", "--config", offline]);
    expect(frozen.stdout).toBe(`ok         env-report 2.3.1  ${source}\n`);
    expect(frozen.exitCode).toBe(0);
    const job = await run(["exec", "--config", offline, "--", "true"]);
    expect(job.exitCode).toBe(0);

    // The installed bundle changed: --frozen says so; sync without it reinstalls.
    const bundle = join(plugins, "env-report", "2.3.1", "plugin.js");
    writeFileSync(bundle, `${readFileSync(bundle, "utf8")}\n// changed\n`);
    const changed = await run(["plugin", "sync", "--frozen", "--config", offline]);
    expect(changed.stderr).toContain("SHA-256 mismatch");
    expect(changed.exitCode).toBe(78);
    expect((await run(["plugin", "sync", "--config", config])).stdout).toContain(
      "installed  env-report 2.3.1",
    );
    expect((await run(["plugin", "verify"])).exitCode).toBe(0);

    // Installed from somewhere else: not what config.toml declares.
    rmSync(plugins, { recursive: true });
    const local = join(dir.path, "env-report-src");
    await runProcess(["cp", "-r", join(FIXTURES, "plugins", "ts-lifecycle"), local], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect((await run(["plugin", "install", local])).exitCode).toBe(0);
    const elsewhere = await run(["plugin", "sync", "--frozen", "--config", offline]);
    expect(elsewhere.stderr).toContain(`is not installed (installed: 2.1.0 from ${local})`);
    expect(elsewhere.exitCode).toBe(78);
  }, 90_000);
});

describe("URL sources", () => {
  let server: ReturnType<typeof Bun.serve>;
  let files: Map<string, Uint8Array>;
  let tarball: Uint8Array;
  let sha256: string;

  beforeAll(async () => {
    files = new Map();
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (request) => {
        const body = files.get(new URL(request.url).pathname);
        return body ? new Response(body) : new Response("not found", { status: 404 });
      },
    });
    // A release tarball as a plugin author makes one: the sources in one top-level directory.
    using dir = tempDir();
    const root = join(dir.path, "env-report-2.1.0");
    await runProcess(["cp", "-r", join(FIXTURES, "plugins", "ts-lifecycle"), root], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    const tar = await runProcess(["tar", "-czf", "release.tar.gz", "env-report-2.1.0"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(tar.exitCode).toBe(0);
    tarball = readFileSync(join(dir.path, "release.tar.gz"));
    sha256 = createHash("sha256").update(tarball).digest("hex");
    files.set("/releases/env-report.tar.gz", tarball);
  });

  afterAll(() => server?.stop(true));

  const url = () => `http://127.0.0.1:${server.port}/releases/env-report.tar.gz`;

  test("pinned with #sha256=: installed; the pin is locked, so the same URL needs no pin again", async () => {
    using dir = tempDir();
    const { run, lock } = setup(dir);
    const installed = await run(["plugin", "install", `${url()}#sha256=${sha256}`]);
    expect(installed.stderr).toBe("");
    expect(installed.stdout).toContain("installed env-report 2.1.0 (lifecycle)");
    expect(lock().plugins[0]!.source).toEqual({
      specifier: url(),
      tarball: url(),
      integrity: `sha256-${Buffer.from(sha256, "hex").toString("base64")}`,
    });
    const reinstalled = await run(["plugin", "install", url()]);
    expect(reinstalled.exitCode).toBe(0);
    // config.toml pinning the same URL to another digest (a revoked build): not what is installed.
    const repinned = hooksConfig(dir, `${url()}#sha256=${"ab".repeat(32)}`, "http://127.0.0.1:9/", "*");
    const frozen = await run(["plugin", "sync", "--frozen", "--config", repinned]);
    expect(frozen.stderr).toContain(`is not installed (installed: 2.1.0 from ${url()})`);
    expect(frozen.exitCode).toBe(78);
    const samePin = hooksConfig(dir, `${url()}#sha256=${sha256}`, "http://127.0.0.1:9/", "*");
    expect((await run(["plugin", "sync", "--frozen", "--config", samePin])).exitCode).toBe(0);
    // The lock's pin holds: other bytes at the same URL are refused.
    files.set("/releases/env-report.tar.gz", Buffer.concat([tarball, Buffer.from("x")]));
    try {
      const swapped = await run(["plugin", "install", url()]);
      expect(swapped.stderr).toContain(`refusing to install ${url()}: it is not what was pinned`);
      expect(swapped.exitCode).toBe(2);
    } finally {
      files.set("/releases/env-report.tar.gz", tarball);
    }
  });

  test("unpinned: refused before anything is downloaded", async () => {
    using dir = tempDir();
    const { run } = setup(dir);
    const installed = await run(["plugin", "install", url()]);
    expect(installed.stderr).toContain(
      `refusing to install ${url()}: it is not pinned; give its SHA-256 with --sha256 HEX or as ${url()}#sha256=HEX`,
    );
    expect(installed.exitCode).toBe(64);
  });

  test("a wrong digest with --sha256: refused, naming both", async () => {
    using dir = tempDir();
    const { plugins, run } = setup(dir);
    const wrong = "0".repeat(64);
    const installed = await run(["plugin", "install", url(), "--sha256", wrong]);
    expect(installed.stderr).toContain(
      `refusing to install ${url()}: it is not what was pinned: the pinned SHA-256 is sha256-${Buffer.from(wrong, "hex").toString("base64")}, the download is sha256-${Buffer.from(sha256, "hex").toString("base64")}`,
    );
    expect(installed.exitCode).toBe(2);
    expect(readLock(lockPath(plugins)).plugins).toEqual([]);
  });

  test("a tarball with a link or a path out of it is refused whole", async () => {
    using dir = tempDir();
    const { run } = setup(dir);
    const root = join(dir.path, "evil");
    await runProcess(["cp", "-r", join(FIXTURES, "plugins", "ts-lifecycle"), root], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    await runProcess(["ln", "-s", "/etc/passwd", join(root, "passwd")], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    await runProcess(["tar", "-czf", "evil.tar.gz", "evil"], { cwd: dir.path, env: cleanEnv(dir.path) });
    const bytes = readFileSync(join(dir.path, "evil.tar.gz"));
    files.set("/evil.tar.gz", bytes);
    const digest = createHash("sha256").update(bytes).digest("hex");
    const installed = await run([
      "plugin",
      "install",
      `http://127.0.0.1:${server.port}/evil.tar.gz#sha256=${digest}`,
    ]);
    expect(installed.stderr).toContain(
      'its archive is refused: "evil/passwd" is a symbolic link; only files and directories are accepted',
    );
    expect(installed.exitCode).toBe(2);
  });
});
