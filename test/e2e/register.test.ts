/**
 * `drover register`, `drover verify`, `drover unregister` end to end (docs/daemon.md, "Register the
 * runner with GitLab"): the compiled binary against the fake GitLab's runner endpoints
 * (test/fixtures/fake-runners-api.ts), run like an administrator runs them. config.toml is
 * checked byte for byte: what drover adds, what it removes, and that the administrator's text and
 * comments stay.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { FakeCoordinator } from "../fixtures/fake-coordinator.ts";
import { cleanEnv, drover, ensureBuilt, type TempDir, tempDir } from "../harness.ts";
import { escapeRegExp, unwritableDirectory } from "../harness-files.ts";

ensureBuilt();

const ADMIN_TOP = `# Our CI host. Edited by hand; drover register appends runners below.
concurrent = 4   # jobs at once
check_interval = 3
`;

function env(dir: TempDir, extra: Record<string, string> = {}): Record<string, string> {
  return cleanEnv(dir.path, extra);
}

/** The system ID drover keeps beside `config`. */
function systemIdBeside(config: string): string {
  return readFileSync(join(config, "..", ".runner_system_id"), "utf8");
}

/** A port on 127.0.0.1 nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("drover register", () => {
  test("verifies the token with GitLab and appends the runner to config.toml, 0600, the administrator's text kept", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("glrt-abcdefgh12345");
    const expires = new Date("2031-05-01T12:00:00.250Z");
    fake.runnersApi.runner("glrt-abcdefgh12345").tokenExpiresAt = expires;
    const id = fake.runnersApi.runner("glrt-abcdefgh12345").id;
    const config = dir.file("config.toml", ADMIN_TOP, 0o644);

    const before = Date.now();
    const result = await drover(
      ["register", "--config", config, "--url", fake.url, "--token", "glrt-abcdefgh12345", "--name", "lxd"],
      { cwd: dir.path, env: env(dir) },
    );
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    const systemId = systemIdBeside(config);
    expect(systemId).toMatch(/^s_[0-9a-f]{12}$/);
    expect(statSync(join(dir.path, ".runner_system_id")).mode & 0o777).toBe(0o600);
    expect(result.stdout).toBe(
      `Runner "lxd" registered with ${fake.url} (runner id ${id}, system ID ${systemId}, token expires: 2031-05-01T12:00:00.250Z).\n` +
        `Configuration (with the authentication token) saved in ${config}.\n` +
        `Start it with: drover run --config ${config}\n` +
        "A drover run already using this file takes the new runner on a reload (SIGHUP: systemctl reload drover).\n",
    );

    const text = readFileSync(config, "utf8");
    const obtained = /token_obtained_at = (\S+)\n/.exec(text)?.[1] ?? "";
    expect(Date.parse(obtained)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(obtained).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/); // whole seconds, as GitLab Runner writes it
    expect(text).toBe(`${ADMIN_TOP}
[[runners]]
  name = "lxd"
  url = "${fake.url}"
  id = ${id}
  token = "glrt-abcdefgh12345"
  token_obtained_at = ${obtained}
  token_expires_at = 2031-05-01T12:00:00.250Z
  executor = "shell"
`);
    expect(statSync(config).mode & 0o777).toBe(0o600);

    // GitLab was asked as GitLab Runner asks: token in the body and the RUNNER-TOKEN header, this
    // host's system ID, the runner's info; and it recorded this host as a manager.
    expect(fake.runnersApi.requests).toEqual([
      {
        method: "POST",
        path: "/api/v4/runners/verify",
        status: 200,
        body: expect.objectContaining({ token: "glrt-abcdefgh12345", system_id: systemId }),
        runnerTokenHeader: "glrt-abcdefgh12345",
      },
    ]);
    expect(fake.runnersApi.requests[0]?.body.info).toMatchObject({ name: "drover", executor: "shell" });
    expect([...fake.runnersApi.runner("glrt-abcdefgh12345").managers]).toEqual([systemId]);

    const check = await drover(["config", "check", "--config", config], { cwd: dir.path, env: env(dir) });
    expect(check.stdout).toBe(`${config}: OK (1 runner(s))\n`);
    expect(check.exitCode).toBe(0);
  });

  test("a custom executor runner, into a new file at the default place, with the token from $CI_SERVER_TOKEN; verify finds it there", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("glrt-from-env");
    const result = await drover(
      [
        "register",
        "--non-interactive",
        "--url",
        fake.url,
        "--name",
        "vm",
        "--executor",
        "custom",
        "--custom-run-exec",
        "/opt/vm/run.sh",
        "--custom-cleanup-exec",
        "/opt/vm/cleanup.sh",
        "--builds-dir",
        "/builds",
        "--limit",
        "2",
      ],
      { cwd: dir.path, env: env(dir, { CI_SERVER_TOKEN: "glrt-from-env" }) },
    );
    expect(result.exitCode).toBe(0);
    const config = join(dir.path, ".config", "drover", "config.toml");
    expect(result.stdout).toContain(`saved in ${config}.`);
    expect(statSync(join(dir.path, ".config", "drover")).mode & 0o777).toBe(0o700);
    const text = readFileSync(config, "utf8");
    expect(text).toMatch(
      /^\[\[runners\]\]\n {2}name = "vm"\n[\s\S]* {2}executor = "custom"\n {2}limit = 2\n {2}builds_dir = "\/builds"\n {2}\[runners\.custom\]\n {4}run_exec = "\/opt\/vm\/run\.sh"\n {4}cleanup_exec = "\/opt\/vm\/cleanup\.sh"\n$/,
    );
    expect(text).toContain("  token_expires_at = 0001-01-01T00:00:00Z\n"); // never expires

    const verified = await drover(["verify"], { cwd: dir.path, env: env(dir) });
    expect(verified.stdout).toBe(`runner "vm" (${fake.url}): valid\n`);
    expect(verified.exitCode).toBe(0);
  });

  test("a token GitLab refuses: exit 2, nothing written", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    const config = dir.file("config.toml", ADMIN_TOP, 0o600);
    const result = await drover(
      ["register", "--config", config, "--url", fake.url, "--token", "glrt-wrong"],
      {
        cwd: dir.path,
        env: env(dir),
      },
    );
    expect(result.stderr).toBe(
      `drover: GitLab refused the token (403 Forbidden from ${fake.url}/api/v4/runners/verify): it must be the authentication token (glrt-...) of a runner that exists; config.toml was not changed\n`,
    );
    expect(result.exitCode).toBe(2);
    expect(readFileSync(config, "utf8")).toBe(ADMIN_TOP);
  });

  test("GitLab answering garbage, an old GitLab, no GitLab at all: a sentence that says which, nothing written", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("glrt-ok");
    const config = dir.file("config.toml", ADMIN_TOP, 0o600);
    const register = (url: string) =>
      drover(["register", "--config", config, "--url", url, "--token", "glrt-ok"], {
        cwd: dir.path,
        env: env(dir),
      });

    fake.runnersApi.garbageVerify = 1;
    const garbage = await register(fake.url);
    expect(garbage.stderr).toBe(
      "drover: verifying the runner with GitLab failed: GitLab answered 200 to POST /api/v4/runners/verify with a body that is not JSON: <html>Whoops</html>; config.toml was not changed\n",
    );
    expect(garbage.exitCode).toBe(2);

    fake.runnersApi.legacyVerify = true;
    const old = await register(fake.url);
    expect(old.stderr).toContain("drover register needs GitLab 15.10 or later; config.toml was not changed");
    expect(old.exitCode).toBe(2);

    const port = await closedPort();
    const down = await register(`http://127.0.0.1:${port}`);
    expect(down.stderr).toBe(
      `drover: verifying the runner with GitLab failed: connection refused by 127.0.0.1:${port}; config.toml was not changed\n`,
    );
    expect(down.exitCode).toBe(2);
    expect(readFileSync(config, "utf8")).toBe(ADMIN_TOP);
  });

  test("a config file that cannot be written: exit 78, and GitLab's record of this host is deleted again", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("glrt-ok").acceptRunner("glrt-second");
    const etc = join(dir.path, "etc");
    const config = join(etc, "config.toml");
    // The directory and the system ID exist; only config.toml cannot be replaced.
    await drover(
      ["register", "--config", config, "--url", fake.url, "--token", "glrt-ok", "--name", "first"],
      {
        cwd: dir.path,
        env: env(dir),
      },
    );
    const text = readFileSync(config, "utf8");
    const systemId = systemIdBeside(config);
    fake.runnersApi.requests.length = 0;
    let result: Awaited<ReturnType<typeof drover>>;
    {
      using _ = unwritableDirectory(etc);
      result = await drover(
        ["register", "--config", config, "--url", fake.url, "--token", "glrt-second", "--name", "second"],
        { cwd: dir.path, env: env(dir) },
      );
    }
    expect(result.stderr).toMatch(
      new RegExp(
        `^drover: cannot write "${escapeRegExp(config)}": (EACCES|EPERM) \\(permission denied: drover's user must be able to write the directory\\)\n  GitLab's record of this host \\(system ID ${systemId}\\) for the runner was deleted again\n$`,
      ),
    );
    expect(result.exitCode).toBe(78);
    expect(readFileSync(config, "utf8")).toBe(text);
    expect(fake.runnersApi.requests.map((r) => [r.method, r.path, r.status, r.body.system_id])).toEqual([
      ["POST", "/api/v4/runners/verify", 200, systemId],
      ["DELETE", "/api/v4/runners/managers", 204, systemId],
    ]);
    expect(fake.runnersApi.runner("glrt-second").managers.size).toBe(0);
  });

  test("what is wrong before GitLab is asked: a name in use, a file others can change, GitLab's own settings, a registration token", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("glrt-ok");
    const config = dir.file("config.toml", `${ADMIN_TOP}\n[[runners]]\n  name = "lxd"\n`, 0o600);
    const run = (...args: string[]) =>
      drover(["register", "--config", config, ...args], { cwd: dir.path, env: env(dir) });

    const taken = await run("--url", fake.url, "--token", "glrt-ok", "--name", "lxd");
    expect(taken.stderr).toBe(
      `drover: a runner named "lxd" is already in ${config}: choose another name with --name (runner names are unique)\n`,
    );
    expect(taken.exitCode).toBe(64);

    const tags = await run("--url", fake.url, "--token", "glrt-ok", "--tag-list", "a,b");
    expect(tags.stderr).toBe(
      'drover: --tag-list is a setting GitLab keeps for the runner, not one given at registration with an authentication token: set it where the runner was created in GitLab (run "drover --help" for usage)\n',
    );
    expect(tags.exitCode).toBe(64);

    const legacy = await run("--url", fake.url, "--registration-token", "GR1348941x");
    expect(legacy.stderr).toContain("registration tokens are not supported (GitLab deprecated them in 15.6)");
    expect(legacy.exitCode).toBe(64);

    const noRunExec = await run("--url", fake.url, "--token", "glrt-ok", "--executor", "custom");
    expect(noRunExec.stderr).toContain("--executor custom needs --custom-run-exec");
    expect(noRunExec.exitCode).toBe(64);

    const docker = await run("--url", fake.url, "--token", "glrt-ok", "--executor", "docker");
    expect(docker.stderr).toContain('unknown executor "docker": drover supports shell, custom and plugin');

    writeFileSync(config, ADMIN_TOP);
    chmodSync(config, 0o646);
    const untrusted = await run("--url", fake.url, "--token", "glrt-ok", "--name", "x");
    expect(untrusted.stderr).toContain(
      `drover: cannot add runner "x" in ${JSON.stringify(config)}: not trusted`,
    );
    expect(untrusted.stderr).toContain("is world-writable");
    expect(untrusted.exitCode).toBe(78);

    expect(fake.runnersApi.requests).toEqual([]); // GitLab was never asked
    expect(existsSync(join(dir.path, ".runner_system_id"))).toBe(false);
  });
});

/** A config with runners a (valid), b (deleted in GitLab) and c (no url/token), with comments. */
function threeRunners(fake: FakeCoordinator, tokens: { a: string; b: string }): string {
  return `${ADMIN_TOP}
# Runner a: the busy one.
[[runners]]
  name = "a"
  url = "${fake.url}"
  token = "${tokens.a}"
  executor = "shell"

# Runner b: about to go.
[[runners]]
  name = "b"
  url = "${fake.url}"
  token = "${tokens.b}"
  executor = "shell"
  [runners.feature_flags]
    FF_USE_FASTZIP = true

# Runner c: only for drover exec.
[[runners]]
  name = "c"
`;
}

describe("drover verify", () => {
  test("says which runners are valid; --delete removes those GitLab deleted, as gitlab-runner verify --delete does", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("glrt-a");
    const text = threeRunners(fake, { a: "glrt-a", b: "glrt-b" });
    const config = dir.file("config.toml", text, 0o600);

    const plain = await drover(["verify", "--config", config], { cwd: dir.path, env: env(dir) });
    expect(plain.stdout).toBe(
      `runner "a" (${fake.url}): valid\n` +
        `runner "b" (${fake.url}): not valid: GitLab answered 403 Forbidden (the runner was deleted, or its token expired or was revoked)\n` +
        'runner "c": not registered (no url or token): skipped\n',
    );
    expect(plain.stderr).toBe(
      `drover: verifying runners failed: runner "b" not valid (drover verify --delete removes it from ${config})\n`,
    );
    expect(plain.exitCode).toBe(2);
    expect(readFileSync(config, "utf8")).toBe(text);
    const systemId = systemIdBeside(config);
    expect(fake.runnersApi.requests.map((r) => r.body.system_id)).toEqual([systemId, systemId]);

    const deleted = await drover(["verify", "--config", config, "--delete"], {
      cwd: dir.path,
      env: env(dir),
    });
    expect(deleted.exitCode).toBe(0);
    expect(deleted.stdout).toEndWith(`removed runner "b" from ${config}\n`);
    expect(readFileSync(config, "utf8")).toBe(
      text.replace(/# Runner b: about to go\.\n[\s\S]*FF_USE_FASTZIP = true\n\n/, ""),
    );

    const one = await drover(["verify", "--config", config, "--name", "a"], { cwd: dir.path, env: env(dir) });
    expect(one.stdout).toBe(`runner "a" (${fake.url}): valid\n`);
    expect(one.exitCode).toBe(0);
  });

  test("GitLab down: nothing is removed, even with --delete, and the command fails", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    const text = threeRunners(fake, { a: "glrt-a", b: "glrt-b" });
    const config = dir.file("config.toml", text, 0o600);
    fake.failFor(60_000, 502);
    const result = await drover(["verify", "--config", config, "--delete"], { cwd: dir.path, env: env(dir) });
    expect(result.stdout).toContain(
      `runner "a" (${fake.url}): could not be verified: GitLab answered 502 to POST /api/v4/runners/verify: <html><body>502 Whoops`,
    );
    expect(result.stderr).toBe(
      'drover: verifying runners failed: GitLab could not be asked about runners "a", "b"\n',
    );
    expect(result.exitCode).toBe(2);
    expect(readFileSync(config, "utf8")).toBe(text);
  });
});

describe("drover unregister", () => {
  test("an authentication token: this host's runner manager is deleted, then the section; the runner stays in GitLab", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("glrt-a").acceptRunner("glrt-b");
    const text = threeRunners(fake, { a: "glrt-a", b: "glrt-b" });
    const config = dir.file("config.toml", text, 0o600);
    // GitLab knows this host for b (it verified with this system ID).
    await drover(["verify", "--config", config, "--name", "b"], { cwd: dir.path, env: env(dir) });
    const systemId = systemIdBeside(config);
    fake.runnersApi.requests.length = 0;

    const result = await drover(["unregister", "--config", config, "--name", "b"], {
      cwd: dir.path,
      env: env(dir),
    });
    expect(result.stdout).toBe(
      `runner "b" (${fake.url}): GitLab deleted this host's runner manager (system ID ${systemId})\n` +
        `removed runner "b" from ${config}\n`,
    );
    expect(result.exitCode).toBe(0);
    expect(fake.runnersApi.requests).toEqual([
      {
        method: "DELETE",
        path: "/api/v4/runners/managers",
        status: 204,
        body: { token: "glrt-b", system_id: systemId },
        runnerTokenHeader: "glrt-b",
      },
    ]);
    expect(fake.runnersApi.runner("glrt-b").managers.size).toBe(0);
    const after = readFileSync(config, "utf8");
    expect(after).not.toContain('name = "b"');
    expect(after).toContain("# Runner a: the busy one.");
    expect(after).toContain("# Runner c: only for drover exec.");
    expect(statSync(config).mode & 0o777).toBe(0o600);
  });

  test("an older token: DELETE /api/v4/runners deletes the runner; --all-runners keeps what GitLab did not confirm", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("legacy-token-a"); // b's token is unknown: 403
    const text = threeRunners(fake, { a: "legacy-token-a", b: "legacy-token-b" });
    const config = dir.file("config.toml", text, 0o600);

    const result = await drover(["unregister", "--config", config, "--all-runners"], {
      cwd: dir.path,
      env: env(dir),
    });
    expect(result.stdout).toBe(
      `runner "a" (${fake.url}): GitLab deleted the runner\n` +
        `runner "b" (${fake.url}): GitLab refused its token (403 Forbidden): the runner may be deleted already (drover verify --delete removes runners GitLab no longer knows)\n` +
        `runner "c": not registered (no url or token): left in ${config}\n` +
        `removed runner "a" from ${config}\n`,
    );
    expect(result.stderr).toBe(`drover: unregistering failed for "b": its section stays in ${config}\n`);
    expect(result.exitCode).toBe(2);
    expect(fake.runnersApi.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ["DELETE", "/api/v4/runners", 204],
      ["DELETE", "/api/v4/runners", 403],
    ]);
    // GitLab deleted runner a: its token no longer works.
    const verifyA = await fetch(`${fake.url}/api/v4/runners/verify`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: "legacy-token-a" }),
    });
    expect(verifyA.status).toBe(403);
    const after = readFileSync(config, "utf8");
    expect(after).not.toContain('name = "a"');
    expect(after).toContain('name = "b"');
    expect(after).toContain('name = "c"');
  });

  test("a host GitLab has no manager for: nothing to delete there, the section goes", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("glrt-a").acceptRunner("glrt-b");
    const config = dir.file("config.toml", threeRunners(fake, { a: "glrt-a", b: "glrt-b" }), 0o600);
    const result = await drover(["unregister", "--config", config, "--token", "glrt-a", "--url", fake.url], {
      cwd: dir.path,
      env: env(dir),
    });
    expect(result.stdout).toBe(
      `runner "a" (${fake.url}): GitLab has no runner manager for this host: nothing to delete there\nremoved runner "a" from ${config}\n`,
    );
    expect(result.exitCode).toBe(0);
    expect(fake.runnersApi.requests.map((r) => r.status)).toEqual([404]);
  });

  test("the command line must say which runners", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    const config = dir.file("config.toml", threeRunners(fake, { a: "glrt-a", b: "glrt-b" }), 0o600);
    const none = await drover(["unregister", "--config", config], { cwd: dir.path, env: env(dir) });
    expect(none.stderr).toBe(
      'drover: unregister needs one of --name NAME, --token TOKEN [--url URL] or --all-runners (run "drover --help" for usage)\n',
    );
    expect(none.exitCode).toBe(64);
    const unknown = await drover(["unregister", "--config", config, "--name", "zz"], {
      cwd: dir.path,
      env: env(dir),
    });
    expect(unknown.stderr).toBe(`drover: no runner named "zz" in ${config}; runners: a, b, c\n`);
    expect(unknown.exitCode).toBe(64);
    expect(fake.runnersApi.requests).toEqual([]);
  });
});
