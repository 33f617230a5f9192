/**
 * The container executor plugin (plugins/container), installed from its sources with the compiled
 * binary and run against real podman containers of the base image .ci/run builds
 * (scripts/base-image.sh): `image:` and a `services:` database reached by its alias, a failing
 * script, cancel and timeout mid-stage, the plugin SIGKILLed mid-job (its leftovers removed by the
 * next instance), eight jobs at once kept apart, the local cache inside the container, and a job
 * looking for drover's sockets on the host.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FakeCoordinator } from "../fixtures/fake-coordinator.ts";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  jobJson,
  marker,
  processesWithEnv,
  ROOT,
  runProcess,
  startDrover,
  type TempDir,
  tempDir,
  waitFor,
} from "../harness.ts";

const IMAGE = "localhost/drover-ci-base:bookworm";
const NONROOT = "localhost/drover-ci-nonroot:test";

/** A TCP "database" in the base image: answers PONG to every line (perl-base is in minbase). */
const TINY_DB = [
  "perl",
  "-MIO::Socket::INET",
  "-e",
  '$|=1; $s=IO::Socket::INET->new(LocalPort=>5432,Listen=>5,ReuseAddr=>1) or die "listen: $!"; print "tiny-db ready for $ENV{DB_NAME}\\n"; while ($c=$s->accept) { $l=<$c>; print $c "PONG\\n"; close $c }',
];

let home: TempDir;
let plugins: string;

async function podman(args: string[]): Promise<string> {
  const result = await runProcess(["podman", ...args], { cwd: "/", env: cleanEnv("/tmp") });
  if (result.exitCode !== 0) throw new Error(`podman ${args.join(" ")}: ${result.stderr}`);
  return result.stdout.trim();
}

/** What the plugin made and has not removed: containers, networks, volumes with its label. */
async function leftovers(): Promise<string[]> {
  const containers = await podman([
    "ps",
    "-a",
    "--filter",
    "label=io.drover.container",
    "--format",
    "{{.Names}}",
  ]);
  const networks = await podman([
    "network",
    "ls",
    "--filter",
    "label=io.drover.container",
    "--format",
    "{{.Name}}",
  ]);
  const volumes = await podman([
    "volume",
    "ls",
    "--filter",
    "label=io.drover.container",
    "--format",
    "{{.Name}}",
  ]);
  return [containers, networks, volumes].join("\n").split("\n").filter(Boolean);
}

beforeAll(async () => {
  ensureBuilt();
  const present = await runProcess(["podman", "image", "exists", IMAGE], {
    cwd: "/",
    env: cleanEnv("/tmp"),
  }).catch(() => undefined);
  if (present?.exitCode !== 0)
    throw new Error(
      `the container tests need podman and the image ${IMAGE}: .ci/run installs podman and builds it (scripts/base-image.sh)`,
    );
  // An image whose user is not root, as many are (bitnami/*, node's `USER node`): the base image
  // committed with USER 1001. Made here, from the base image, not installed.
  if (
    (await runProcess(["podman", "image", "exists", NONROOT], { cwd: "/", env: cleanEnv("/tmp") }))
      .exitCode !== 0
  ) {
    const made = `drover-nonroot-${process.pid}`;
    await podman(["create", "--name", made, IMAGE, "true"]);
    await podman(["commit", "-q", "--change", "USER 1001", made, NONROOT]);
    await podman(["rm", made]);
  }
  home = tempDir("drover-container-");
  plugins = join(home.path, "plugins");
  const installed = await drover(["plugin", "install", join(ROOT, "plugins", "container")], {
    cwd: home.path,
    env: cleanEnv(home.path, { DROVER_PLUGIN_DIR: plugins }),
  });
  if (installed.exitCode !== 0) throw new Error(`installing the container plugin: ${installed.stderr}`);
}, 60_000);

afterAll(() => home?.[Symbol.dispose]());

function setup(dir: TempDir, settings: Record<string, unknown> = {}, top = "") {
  const mark = marker();
  const env = cleanEnv(dir.path, { DROVER_PLUGIN_DIR: plugins, [mark.name]: mark.value });
  const lines = Object.entries({ image: IMAGE, pull_policy: ["if-not-present"], ...settings }).map(
    ([key, value]) => `      ${key} = ${JSON.stringify(value)}`,
  );
  const config = dir.file(
    "config.toml",
    `${top}[[runners]]\n  name = "ctr"\n  executor = "plugin"\n  [runners.plugin]\n    name = "container"\n    [runners.plugin.settings]\n${lines.join("\n")}\n`,
  );
  return { env, mark, config, run: (args: string[]) => drover(args, { cwd: dir.path, env }) };
}

/** `drover exec` of a job sleeping in its container, once it has started. */
async function longJob(dir: TempDir) {
  const set = setup(dir);
  const running = startDrover(["exec", "--config", set.config, "--", "echo started; sleep 300"], {
    cwd: dir.path,
    env: set.env,
  });
  await running.waitForStdout("started\n", 30_000);
  return { ...set, running };
}

function job(dir: TempDir, name: string, overrides: Record<string, unknown> & { script?: string[] }): string {
  return dir.file(name, jobJson(overrides));
}

/** A job of `project` without a repository (GIT_STRATEGY none). */
function projectVariables(project: string) {
  return [
    { key: "GIT_STRATEGY", value: "none", public: true },
    { key: "CI_PROJECT_PATH", value: project, public: true },
  ];
}

/** A job of `project` whose `vendor/` is cached under the key "deps". */
function cachedJob(
  dir: TempDir,
  id: number,
  project: string,
  script: string[],
  extra: Record<string, unknown> = {},
) {
  return job(dir, `cache-${id}.json`, {
    id,
    variables: projectVariables(project),
    cache: [{ key: "deps", paths: ["vendor/"], policy: "pull-push", when: "on_success" }],
    script,
    ...extra,
  });
}

describe("the container executor", () => {
  test("image: and a services: database reached by its alias; its logs with CI_DEBUG_SERVICES; all removed", async () => {
    using dir = tempDir();
    const { run, config } = setup(dir);
    const file = job(dir, "db.json", {
      id: 5101,
      image: { name: IMAGE, pull_policy: ["never"] },
      services: [
        {
          name: IMAGE,
          alias: "db",
          command: TINY_DB,
          variables: [{ key: "HEALTHCHECK_TCP_PORT", value: "5432" }],
        },
      ],
      variables: [
        ...projectVariables("group/db"),
        { key: "CI_DEBUG_SERVICES", value: "true", public: true },
        // Reaches the service through an env file, never the CLI's command line (which `ps` shows).
        { key: "DB_NAME", value: "orders", public: true },
      ],
      script: [
        'exec 3<>/dev/tcp/db/5432; echo PING >&3; read -r reply <&3; echo "db says $reply"',
        "cat /etc/debian_version",
        'echo "builds in $PWD"',
      ],
    });
    const result = await run(["exec", "--config", config, file]);
    expect(result.stdout).toContain("Waiting for service localhost/drover-ci-base:bookworm on");
    expect(result.stdout).toContain("db says PONG\n");
    expect(result.stdout).toMatch(/\[service:localhost\/drover-ci-base-db\] tiny-db ready for orders/);
    expect(result.stdout).toContain("builds in /builds/group/db\n");
    expect(result.exitCode).toBe(0);
    expect(await leftovers()).toEqual([]);
  }, 60_000);

  test("a failing script fails the job with its exit code; an image that cannot be had is one clear message", async () => {
    using dir = tempDir();
    const { run, config } = setup(dir);
    const failing = await run(["exec", "--config", config, "--", "echo before; exit 7"]);
    expect(failing.stdout).toContain("before\n");
    expect(failing.stdout).toContain("ERROR: Job failed: exit code 7");
    expect(failing.exitCode).toBe(1);

    const missing = job(dir, "missing.json", {
      image: { name: "localhost/no-such-image:1", pull_policy: ["never"] },
    });
    const refused = await run(["exec", "--config", config, missing]);
    expect(refused.stdout).toContain(
      'failed to pull image "localhost/no-such-image:1" with specified policies ["never"]: never: it is not on this host',
    );
    // Not retried: with pull_policy never, asking again cannot help.
    expect(refused.stdout).not.toContain("Retrying");
    expect(refused.exitCode).toBe(78);
    expect(await leftovers()).toEqual([]);
  }, 60_000);

  test("cancel mid-stage (SIGINT) and a job timeout stop the stage, and the container goes", async () => {
    using dir = tempDir();
    const { env, config } = setup(dir);
    const running = startDrover(["exec", "--config", config, "--", "echo started; sleep 300; echo never"], {
      cwd: dir.path,
      env,
    });
    await running.waitForStdout("started\n", 30_000);
    running.kill("SIGINT");
    expect(await running.exited).toBe(3);
    expect(running.stdout()).not.toMatch(/^never$/m);
    expect(await leftovers()).toEqual([]);

    // after_script runs after the timeout, in the same container, and is not hit by the stopping
    // of the stage before it (an init such as tini as its first process is not touched either).
    const slow = job(dir, "slow.json", {
      runner_info: { timeout: 3 },
      steps: [
        {
          name: "script",
          script: ["echo slow; sleep 300; echo never"],
          timeout: 3,
          when: "on_success",
          allow_failure: false,
        },
        {
          name: "after_script",
          script: ["echo after-start; sleep 6; echo after-done"],
          timeout: 60,
          when: "always",
          allow_failure: true,
        },
      ],
      script: ["echo slow; sleep 300; echo never"],
    });
    const timedOut = await drover(["exec", "--config", config, slow], { cwd: dir.path, env });
    expect(timedOut.stdout).toContain("slow\n");
    expect(timedOut.stdout).toContain("after-done\n");
    expect(timedOut.stdout).not.toMatch(/^never$/m);
    expect(timedOut.exitCode).toBe(3);
    expect(await leftovers()).toEqual([]);
  }, 90_000);

  test("the plugin SIGKILLed mid-job: the next start removes what it left", async () => {
    using dir = tempDir();
    const { env, mark, config, running } = await longJob(dir);
    const plugin = processesWithEnv(mark.entry).filter((pid) =>
      readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("plugin.js"),
    );
    expect(plugin).toHaveLength(1);
    expect((await leftovers()).length).toBeGreaterThan(0);
    process.kill(plugin[0]!, "SIGKILL");
    expect(await running.exited).toBe(2);
    // Its container, network and volume outlive it: nobody was left to remove them.
    expect((await leftovers()).length).toBeGreaterThan(0);
    const next = await drover(["exec", "--config", config, "--", "echo next job"], { cwd: dir.path, env });
    expect(next.stdout).toContain("next job\n");
    expect(next.exitCode).toBe(0);
    expect(await leftovers()).toEqual([]);
  }, 90_000);

  test("drover itself SIGKILLed mid-job: the plugin sees it go and removes the job's containers", async () => {
    using dir = tempDir();
    const { mark, running } = await longJob(dir);
    expect((await leftovers()).length).toBeGreaterThan(0);
    running.kill("SIGKILL");
    await running.exited;
    await waitFor(
      "the job's containers, network and volume removed",
      async () => (await leftovers()).length === 0,
      30_000,
    );
    await waitFor("the plugin gone", () => processesWithEnv(mark.entry).length === 0, 30_000);
  }, 90_000);

  test("settings are checked against the plugin's schema before a job: a wrong key is named", async () => {
    using dir = tempDir();
    const { run, config } = setup(dir, { memroy: "1g" });
    const result = await run(["exec", "--config", config, "--", "echo never"]);
    expect(result.stdout + result.stderr).toContain("memroy");
    expect(result.exitCode).toBe(78);
    expect(await leftovers()).toEqual([]);
  });

  test("eight jobs at once: each in its own container, none sees another's files or network", async () => {
    using dir = tempDir();
    const { run, config } = setup(dir, {}, "concurrent = 8\n");
    const files = Array.from({ length: 8 }, (_, i) =>
      job(dir, `job-${i}.json`, {
        id: 5200 + i,
        variables: projectVariables(`group/p${i}`),
        script: [
          `echo secret-${i} > /builds/mine-${i}.txt`,
          "sleep 2",
          'echo "job sees: $(ls /builds | tr "\\n" " ")"',
          "echo host $(hostname)",
          "echo net $(hostname -I)",
        ],
      }),
    );
    const result = await run(["exec", "--config", config, ...files]);
    expect(result.exitCode).toBe(0);
    for (let i = 0; i < 8; i++)
      expect(result.stdout).toMatch(new RegExp(`job sees: (group )?mine-${i}\\.txt (group )?\\n`));
    // `drover exec` of several jobs prefixes each line with its job's name.
    const hosts = new Set(result.stdout.match(/\] host \S+$/gm));
    expect(hosts.size).toBe(8);
    // A network each: eight different subnets.
    const subnets = new Set([...result.stdout.matchAll(/\] net (\d+\.\d+\.\d+)\.\d+/g)].map((m) => m[1]));
    expect(subnets.size).toBe(8);
    expect(await leftovers()).toEqual([]);
  }, 120_000);

  test("the local cache inside the container: saved by one job, restored by the next of the project", async () => {
    using dir = tempDir();
    const { run, config } = setup(dir);
    const cached = (id: number, script: string[]) => cachedJob(dir, id, "group/cached", script);
    const first = await run([
      "exec",
      "--config",
      config,
      cached(5301, ["mkdir -p vendor", "echo kept > vendor/dep.txt"]),
    ]);
    expect(first.stdout).toContain("Creating cache deps...");
    expect(first.exitCode).toBe(0);
    const second = await run(["exec", "--config", config, cached(5302, ["cat vendor/dep.txt"])]);
    expect(second.stdout).toContain("Successfully extracted cache");
    expect(second.stdout).toContain("kept\n");
    expect(second.exitCode).toBe(0);
  }, 60_000);

  test("artifacts through GitLab's API from inside the container: build uploads, test downloads (drover run)", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("ctr-token");
    const mark = marker();
    // network_mode host: the stand-in for GitLab listens on this host's loopback.
    const settings = { image: IMAGE, pull_policy: ["never"], network_mode: "host" };
    const config = dir.file(
      "config.toml",
      [
        "concurrent = 1",
        "check_interval = 1",
        "[[runners]]",
        '  name = "ctr"',
        `  url = "${fake.url}"`,
        '  token = "ctr-token"',
        '  executor = "plugin"',
        "  [runners.plugin]",
        '    name = "container"',
        "    [runners.plugin.settings]",
        ...Object.entries(settings).map(([key, value]) => `      ${key} = ${JSON.stringify(value)}`),
        "",
      ].join("\n"),
    );
    const build = fake.enqueue("ctr-token", {
      script: ["mkdir -p out", "printf 'made in a container' > out/app.bin"],
      extra: {
        artifacts: [
          {
            name: "bin",
            paths: ["out/"],
            when: "on_success",
            artifact_type: "archive",
            artifact_format: "zip",
          },
        ],
      },
    });
    await using daemon = startDrover(["run", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { DROVER_PLUGIN_DIR: plugins, [mark.name]: mark.value }),
    });
    await waitFor("the build job's end", () => fake.job(build).final !== undefined, 60_000);
    expect(fake.traceText(build)).toContain(`Uploading artifacts as "archive" to coordinator... 201 Created`);
    expect(fake.job(build).final?.state).toBe("success");
    const test = fake.enqueue("ctr-token", {
      script: ["cat out/app.bin"],
      extra: {
        dependencies: [
          {
            id: build,
            name: "build",
            token: fake.job(build).token,
            artifacts_file: {
              filename: "bin.zip",
              size: fake.artifacts.uploads.get(build)![0]!.bytes.length,
            },
          },
        ],
      },
    });
    await waitFor("the test job's end", () => fake.job(test).final !== undefined, 60_000);
    expect(fake.traceText(test)).toContain("made in a container");
    expect(fake.job(test).final?.state).toBe("success");
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(await leftovers()).toEqual([]);
  }, 120_000);

  test("an image whose user is not root: its stages run as that user, with /builds and /cache its own", async () => {
    using dir = tempDir();
    const { run, config } = setup(dir);
    const nonroot = (id: number, script: string[]) =>
      cachedJob(dir, id, "group/nonroot", script, { image: { name: NONROOT, pull_policy: ["never"] } });
    const first = await run([
      "exec",
      "--config",
      config,
      nonroot(5401, [
        'echo "uid $(id -u)"',
        "mkdir -p vendor",
        "echo mine > vendor/f.txt",
        "read -r x || echo stdin-empty",
      ]),
    ]);
    expect(first.stdout).toContain("uid 1001\n");
    expect(first.stdout).toContain("stdin-empty\n");
    expect(first.stdout).toContain("Created cache");
    expect(first.exitCode).toBe(0);
    const second = await run(["exec", "--config", config, nonroot(5402, ["cat vendor/f.txt"])]);
    expect(second.stdout).toContain("mine\n");
    expect(second.exitCode).toBe(0);
  }, 60_000);

  test("a job looking for drover's sockets, its plugin dirs or the container CLI's socket finds none", async () => {
    using dir = tempDir();
    const { run, config } = setup(dir);
    const result = await run([
      "exec",
      "--config",
      config,
      "--",
      "found=$(find / -xdev \\( -type s -o -name 'drover-plugin-*' -o -name 'podman.sock' -o -name 'docker.sock' \\) 2>/dev/null | grep -v '^/proc' || true)",
      'echo "found: [$found]"',
      "ls /tmp",
      'test ! -e /run/podman/podman.sock && echo "no podman socket"',
    ]);
    expect(result.stdout).toContain("found: []\n");
    expect(result.stdout).toContain("no podman socket\n");
    expect(result.exitCode).toBe(0);
  }, 60_000);
});
