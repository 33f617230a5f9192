/**
 * `drover run` rotating a runner token that is about to expire (docs/daemon.md, "Register the runner
 * with GitLab"; src/daemon/token-rotation.ts), end to end: the compiled binary against the fake
 * GitLab, whose POST /api/v4/runners/reset_authentication_token revokes the old token at once. The
 * new token must be used for the very next job request, written back into config.toml (comments
 * kept, 0600), survive a reload, and never appear in drover's log. Job requests carry the host's
 * system ID.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { FakeCoordinator } from "../fixtures/fake-coordinator.ts";
import {
  cleanEnv,
  ensureBuilt,
  expectNoLeftovers,
  marker,
  startDrover,
  tempDir,
  waitFor,
} from "../harness.ts";

ensureBuilt();

const DAY = 24 * 3600_000;

/** A date-time as GitLab Runner writes it (whole seconds, UTC). */
function toml(time: number): string {
  return new Date(Math.floor(time / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

describe("drover run: token rotation", () => {
  test("a token past 75% of its life is reset, used for the next job request at once, and written back", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("glrt-old-token");
    fake.runnersApi.resetTokenLifetimeMs = 90 * DAY;
    const obtained = toml(Date.now() - 29 * DAY);
    const expires = toml(Date.now() + DAY);
    const config = dir.file(
      "config.toml",
      `# Our CI host.
concurrent = 2
check_interval = 1
shutdown_timeout = 20

# The runner whose token is about to expire.
[[runners]]
  name = "shell"          # dashboards use this name
  url = "${fake.url}"
  token = "glrt-old-token"
  token_obtained_at = ${obtained}
  token_expires_at = ${expires}
  executor = "shell"
  builds_dir = ${JSON.stringify(join(dir.path, "builds"))}
`,
      0o600,
    );
    const before = readFileSync(config, "utf8");
    const mark = marker();
    await using daemon = startDrover(["--log-level", "info", "run", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });

    await waitFor("the token reset", () =>
      fake.runnersApi.requests.some((r) => r.path === "/api/v4/runners/reset_authentication_token"),
    );
    const reset = fake.runnersApi.requests.find(
      (r) => r.path === "/api/v4/runners/reset_authentication_token",
    );
    expect(reset).toMatchObject({ method: "POST", status: 201, body: { token: "glrt-old-token" } });
    const newToken = [...fake.runnersApi.runners.keys()][0] ?? "";
    expect(newToken).toStartWith("glrt-");
    const newExpiry = fake.runnersApi.runners.get(newToken)?.tokenExpiresAt ?? new Date(0);

    // Written back: only the three token keys changed; comments, order and everything else as before.
    await daemon.waitForStderr("the new runner token was written to the config file");
    const written = readFileSync(config, "utf8");
    const obtainedNow = /token_obtained_at = (\S+)/.exec(written)?.[1] ?? "";
    expect(Math.abs(Date.parse(obtainedNow) - Date.now())).toBeLessThan(60_000);
    expect(written).toBe(
      before
        .replace('token = "glrt-old-token"', `token = "${newToken}"`)
        .replace(`token_obtained_at = ${obtained}`, `token_obtained_at = ${obtainedNow}`)
        .replace(`token_expires_at = ${expires}`, `token_expires_at = ${newExpiry.toISOString()}`),
    );
    expect(statSync(config).mode & 0o777).toBe(0o600);

    // The next job is taken with the new token, and the request carries this host's system ID.
    const job = fake.enqueue(newToken, { script: ["echo after the rotation"] });
    await waitFor("the job's final state", () => fake.job(job).final !== undefined, 30_000);
    expect(fake.job(job).final?.state).toBe("success");
    const systemId = readFileSync(join(dir.path, ".runner_system_id"), "utf8");
    expect(systemId).toMatch(/^s_[0-9a-f]{12}$/);
    const taken = fake.requests.find((r) => r.endpoint === "request_job" && r.jobId === job);
    expect(taken?.runnerToken).toBe(newToken);
    expect(taken?.body?.system_id).toBe(systemId);
    // The old token was never used after GitLab revoked it.
    expect(
      fake.requests.filter(
        (r) => r.endpoint === "request_job" && r.runnerToken === "glrt-old-token" && r.status === 403,
      ),
    ).toEqual([]);

    // A reload reads the new token from the file: the same runner goes on.
    daemon.kill("SIGHUP");
    await daemon.waitForStderr("configuration reloaded");
    const second = fake.enqueue(newToken, { script: ["echo after the reload"] });
    await waitFor("the second job's final state", () => fake.job(second).final !== undefined, 30_000);
    expect(fake.job(second).final?.state).toBe("success");
    // One reset: the new token is not due for weeks.
    expect(fake.runnersApi.requests.filter((r) => r.path.endsWith("reset_authentication_token")).length).toBe(
      1,
    );

    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    // Tokens are secrets: neither is in drover's log.
    expect(daemon.stderr()).not.toContain(newToken);
    expect(daemon.stderr()).not.toContain("glrt-old-token");
    expect(daemon.stderr()).toContain(`"systemId":"${systemId}"`);
    await expectNoLeftovers(mark.entry);
  }, 60_000);

  test("a reset GitLab answers with garbage is tried again; the job requests go on with the old token meanwhile", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("glrt-old-token");
    fake.runnersApi.garbageResets = 1;
    const config = dir.file(
      "config.toml",
      `concurrent = 1
check_interval = 1
[[runners]]
  name = "shell"
  url = "${fake.url}"
  token = "glrt-old-token"
  token_obtained_at = ${toml(Date.now() - 10 * DAY)}
  token_expires_at = ${toml(Date.now() + DAY)}
  executor = "shell"
  builds_dir = ${JSON.stringify(join(dir.path, "builds"))}
`,
      0o600,
    );
    const mark = marker();
    await using daemon = startDrover(["--log-level", "info", "run", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });
    await daemon.waitForStderr("resetting the runner's authentication token failed; will retry");
    expect(daemon.stderr()).toContain(
      "GitLab answered 201 to POST /api/v4/runners/reset_authentication_token with a body that is not JSON: <html>not a token</html>",
    );
    expect(readFileSync(config, "utf8")).toContain('token = "glrt-old-token"');
    const job = fake.enqueue("glrt-old-token", { script: ["echo still working"] });
    await waitFor("the job's final state", () => fake.job(job).final !== undefined, 30_000);
    expect(fake.job(job).final?.state).toBe("success");
    // The retry (10 s later) gets a real token.
    await daemon.waitForStderr("the new runner token was written to the config file", 30_000);
    expect(readFileSync(config, "utf8")).not.toContain("glrt-old-token");
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 60_000);
});
