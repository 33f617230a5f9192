/**
 * `drover run` when GitLab misbehaves (docs/daemon.md, "When the coordinator misbehaves", "Metrics
 * and health"): the compiled binary against the fake GitLab (test/fixtures/fake-coordinator.ts).
 *
 *   a refused token      unhealthy, never stopped: /healthz and the metrics say so; asked again
 *                        after unhealthy_interval, or at once on SIGHUP; drover does not exit
 *   5xx with Retry-After the next request waits what GitLab asked for, not the backoff's gap
 *   GitLab down a while  the pause never grows past check_interval: the first job starts within
 *                        seconds of GitLab coming back
 *   final state refused  bounded tries, then kept on disk (0600); a restarted drover reports it
 *   headers              RUNNER-TOKEN, JOB-TOKEN and a fresh X-Request-Id where GitLab Runner sends them
 *
 * Waits are for conditions; the few time measurements are lower bounds (a pause that must have
 * lasted at least so long) or generous upper bounds far from the behaviour they rule out.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { encodeKept, PendingUpdates } from "../../src/daemon/pending-updates.ts";
import { createLogger } from "../../src/log/logger.ts";
import { FakeCoordinator, type FakeJob, type ReceivedRequest } from "../fixtures/fake-coordinator.ts";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  expectNoLeftovers,
  marker,
  type Running,
  startDrover,
  type TempDir,
  tempDir,
  waitFor,
} from "../harness.ts";

ensureBuilt();

/** config.toml: one shell runner named "shell" at `fake`, with `runnerKeys`, after `top`. */
function writeConfig(
  dir: TempDir,
  fake: FakeCoordinator,
  token: string,
  runnerKeys: Record<string, string | number> = {},
  top: Record<string, string | number> = {},
): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries({
    concurrent: 2,
    check_interval: 1,
    shutdown_timeout: 20,
    ...top,
  }))
    lines.push(`${key} = ${JSON.stringify(value)}`);
  lines.push(
    "[[runners]]",
    '  name = "shell"',
    `  url = "${fake.url}"`,
    `  token = "${token}"`,
    '  executor = "shell"',
    `  builds_dir = ${JSON.stringify(join(dir.path, "builds"))}`,
  );
  for (const [key, value] of Object.entries(runnerKeys)) lines.push(`  ${key} = ${JSON.stringify(value)}`);
  return dir.file("config.toml", `${lines.join("\n")}\n`);
}

function startDaemon(dir: TempDir, config: string, mark: ReturnType<typeof marker>): Running {
  return startDrover(["--log-level", "info", "run", "--config", config], {
    cwd: dir.path,
    env: cleanEnv(dir.path, { [mark.name]: mark.value }),
  });
}

/** The metrics address drover logged (listen_address = "127.0.0.1:0"). */
async function metricsAddress(daemon: Running): Promise<string> {
  await daemon.waitForStderr(/"address":"127\.0\.0\.1:\d+"/);
  return /"address":"(127\.0\.0\.1:\d+)"/.exec(daemon.stderr())![1]!;
}

const jobRequests = (fake: FakeCoordinator): ReceivedRequest[] =>
  fake.received.filter((r) => r.method === "POST" && r.path === "/api/v4/jobs/request");

/** The longest pause between two job requests that arrived after `from`. */
function longestGap(requests: ReceivedRequest[], from = 0): number {
  const times = requests.map((r) => r.at).filter((at) => at >= from);
  return Math.max(0, ...times.slice(1).map((at, i) => at - times[i]!));
}

function expectTraceVerified(job: FakeJob): void {
  expect(job.final?.output).toEqual({
    checksum: `crc32:${crc32(job.trace).toString(16).padStart(8, "0")}`,
    bytesize: job.trace.length,
  });
}

/** Resolves "running" while the process has not exited. */
async function stillRunning(daemon: Running): Promise<string> {
  return Promise.race([
    daemon.exited.then((status) => `exited ${status}`),
    Bun.sleep(50).then(() => "running"),
  ]);
}

describe("drover run when the coordinator misbehaves", () => {
  test("a refused token (403): unhealthy in /healthz and the metrics, never exits, asked again after unhealthy_interval, then takes jobs", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    const mark = marker();
    // GitLab does not accept the token yet (a runner re-enabled later, a token restored).
    const config = writeConfig(
      dir,
      fake,
      "late-token",
      { unhealthy_interval: "3s" },
      { listen_address: "127.0.0.1:0" },
    );
    await using daemon = startDaemon(dir, config, mark);
    const address = await metricsAddress(daemon);
    await daemon.waitForStderr(/runner is unhealthy: its job requests failed too many times in a row/);
    expect(jobRequests(fake)).toHaveLength(3);

    const health = await fetch(`http://${address}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({
      status: "unhealthy",
      runners: [
        {
          runner: "shell",
          healthy: false,
          failures: 3,
          lastProblem: "the coordinator refused the runner's token (403 Forbidden)",
          since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          nextCheckInSeconds: expect.any(Number),
        },
      ],
    });
    const unhealthyMetrics = await (await fetch(`http://${address}/metrics`)).text();
    expect(unhealthyMetrics).toContain('drover_runner_healthy{runner="shell"} 0');
    expect(unhealthyMetrics).toContain('drover_runner_health_check_failures_total{runner="shell"} 3');
    expect(await stillRunning(daemon)).toBe("running");

    // The token becomes valid: after unhealthy_interval the runner asks again and takes the job.
    fake.acceptRunner("late-token");
    const id = fake.enqueue("late-token", { script: ["echo back in business"] });
    await waitFor("the job's final state", () => fake.job(id).final !== undefined, 20_000);
    expect(fake.job(id).status).toBe("success");
    const [, , third, fourth] = jobRequests(fake);
    expect(fourth!.at - third!.at).toBeGreaterThanOrEqual(2_900);
    await daemon.waitForStderr(/runner is healthy again/);

    const healthy = await fetch(`http://${address}/healthz`);
    expect(healthy.status).toBe(200);
    expect(await healthy.json()).toEqual({
      status: "ok",
      runners: [{ runner: "shell", healthy: true, failures: 0 }],
    });
    expect(await (await fetch(`http://${address}/metrics`)).text()).toContain(
      'drover_runner_healthy{runner="shell"} 1',
    );

    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 45_000);

  test("SIGHUP asks an unhealthy runner again at once, without waiting out unhealthy_interval", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    const mark = marker();
    const config = writeConfig(dir, fake, "late-token", {
      unhealthy_interval: "1h",
      unhealthy_requests_limit: 2,
    });
    await using daemon = startDaemon(dir, config, mark);
    await daemon.waitForStderr(/runner is unhealthy: its job requests failed too many times in a row/);
    expect(jobRequests(fake)).toHaveLength(2);
    fake.acceptRunner("late-token");
    const id = fake.enqueue("late-token");
    daemon.kill("SIGHUP");
    await daemon.waitForStderr(/asking for a job again at once although the runner is unhealthy/);
    await waitFor("the job's final state", () => fake.job(id).final !== undefined);
    expect(fake.job(id).status).toBe("success");
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 30_000);

  test("no runner that can ask for jobs at start is a configuration error (exit 78), not a daemon idling", async () => {
    using dir = tempDir();
    const config = dir.file(
      "config.toml",
      '[[runners]]\n  name = "no-token"\n  url = "https://gitlab.example.com"\n',
    );
    const result = await drover(["run", "--config", config], { cwd: dir.path, env: cleanEnv(dir.path) });
    expect(result.exitCode).toBe(78);
    expect(result.stderr).toContain("has both url and token");
  });

  test("503 with Retry-After, 429 with RateLimit-ResetTime: the next job request waits what GitLab asked for", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    // check_interval = 1: the backoff's own pause would be at most 1 s.
    const config = writeConfig(dir, fake, "shell-token");
    fake.failFor(60_000, 503, { "Retry-After": "3" });
    await using daemon = startDaemon(dir, config, mark);
    await waitFor("two job requests", () => jobRequests(fake).length >= 2, 10_000);
    const [first, second] = jobRequests(fake);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(2_900);
    expect(daemon.stderr()).toContain('"askedBy":"Retry-After"');

    // GitLab's rate limiter: 429 and when its quota resets (an HTTP date: whole seconds). Far
    // enough ahead that the next request (at most 3 s away: the Retry-After above) comes before it.
    const resetAt = Math.ceil((Date.now() + 6_000) / 1000) * 1000;
    fake.failFor(60_000, 429, { "RateLimit-ResetTime": new Date(resetAt).toUTCString() });
    // By count, not by time: the last 503 may have arrived in the same millisecond.
    const before = jobRequests(fake).length;
    const limited = () => jobRequests(fake).slice(before);
    await waitFor("two job requests after the 429s began", () => limited().length >= 2, 20_000);
    const [refused, next] = limited();
    expect(refused!.at).toBeLessThan(resetAt);
    expect(next!.at).toBeGreaterThanOrEqual(resetAt - 50);
    expect(daemon.stderr()).toContain('"askedBy":"RateLimit-ResetTime"');

    fake.failFor(0);
    const id = fake.enqueue("shell-token");
    await waitFor("the job's final state", () => fake.job(id).final !== undefined, 20_000);
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 45_000);

  test("GitLab down (502) for 15 s: the pause never grows past check_interval; the job starts within seconds of GitLab coming back", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    // The default check_interval (3 s): the ceiling of the job requests' backoff.
    const config = writeConfig(dir, fake, "shell-token", {}, { check_interval: 3 });
    const id = fake.enqueue("shell-token");
    const downSince = Date.now();
    fake.failFor(15_000, 502);
    const back = downSince + 15_000;
    await using daemon = startDaemon(dir, config, mark);
    await waitFor("the job's final state", () => fake.job(id).final !== undefined, 40_000);

    const requests = jobRequests(fake);
    const taken = requests.find((r) => r.at >= back);
    expect(taken).toBeDefined();
    // Before: gaps grew to ~57 s and the first job came ~130 s after GitLab was back (issue 15).
    expect(taken!.at - back).toBeLessThan(4_500);
    expect(longestGap(requests.filter((r) => r.at < back))).toBeLessThan(4_500);
    expect(fake.job(id).status).toBe("success");
    // 5xx is GitLab answering: the runner stays healthy (GitLab Runner's RequestJob says so too).
    expect(daemon.stderr()).not.toContain("runner is unhealthy");

    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 60_000);

  test("a final state GitLab refuses until drover restarts: bounded tries, kept on disk 0600, reported by the next drover", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    const config = writeConfig(
      dir,
      fake,
      "shell-token",
      { job_status_final_update_retry_limit: 2 },
      { listen_address: "127.0.0.1:0" },
    );
    fake.refuseFinalUpdates(500);
    const id = fake.enqueue("shell-token", { script: ["echo the result that must not be lost"] });
    const pendingDir = join(dir.path, ".local", "state", "drover", "pending-final-updates");

    const first = startDaemon(dir, config, mark);
    await first.waitForStderr(/its final state was not acknowledged: it is kept on disk/, 20_000);
    const finalTries = fake.received.filter((r) => r.method === "PUT" && r.path === `/api/v4/jobs/${id}`);
    // A PUT state=running first, then exactly job_status_final_update_retry_limit final tries.
    expect(fake.job(id).updates.map((u) => u.state)).toEqual(["running", "success", "success"]);
    expect(finalTries).toHaveLength(3);
    expect(fake.job(id).final).toBeUndefined();
    const [kept] = readdirSync(pendingDir);
    expect(kept).toMatch(new RegExp(`^job-${id}-[0-9a-f]{12}\\.json$`));
    expect(statSync(join(pendingDir, kept!)).mode & 0o777).toBe(0o600);
    expect(statSync(pendingDir).mode & 0o777).toBe(0o700);
    const pendingMetric = async (daemon: Running) =>
      /^drover_final_updates_pending (\d+)$/m.exec(
        await (await fetch(`http://${await metricsAddress(daemon)}/metrics`)).text(),
      )?.[1];
    expect(await pendingMetric(first)).toBe("1");
    first.kill("SIGTERM");
    expect(await first.exited).toBe(0);

    fake.refuseFinalUpdates(undefined);
    await using second = startDaemon(dir, config, mark);
    await waitFor("the kept final state at GitLab", () => fake.job(id).final !== undefined, 20_000);
    await second.waitForStderr(/kept final job state reported/);
    expect(await pendingMetric(second)).toBe("0");
    expect(fake.job(id).final).toMatchObject({ state: "success" });
    expect(fake.traceText(id)).toContain("the result that must not be lost");
    expectTraceVerified(fake.job(id));
    expect(readdirSync(pendingDir)).toEqual([]);
    second.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 60_000);

  test("a kept final state another user could have written is not reported: the log names it and says why", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    const config = writeConfig(dir, fake, "shell-token");
    const pending = new PendingUpdates(
      join(dir.path, ".local", "state", "drover"),
      createLogger({ level: "silent", pretty: false }),
    );
    mkdirSync(pending.dir, { recursive: true, mode: 0o700 });
    const kept = {
      url: fake.url,
      jobId: 77,
      jobToken: "job-token-77",
      update: { state: "success" as const, output: { checksum: "crc32:00000000", bytesize: 0 } },
      trace: { start: 0, bytes: new Uint8Array() },
    };
    const file = pending.fileFor(kept);
    writeFileSync(file, encodeKept(kept));
    chmodSync(file, 0o644);
    await using daemon = startDaemon(dir, config, mark);
    await daemon.waitForStderr(/a kept final job state is not trusted: it is not reported/);
    expect(daemon.stderr()).toContain("has mode 0644: others than drover's user may use it (expected 0600)");
    expect(daemon.stderr()).toContain(file);
    // Left for the administrator; nothing was sent for job 77; drover takes jobs as usual.
    expect(existsSync(file)).toBe(true);
    expect(fake.received.some((r) => r.path.startsWith("/api/v4/jobs/77"))).toBe(false);
    const id = fake.enqueue("shell-token");
    await waitFor("the job's final state", () => fake.job(id).final !== undefined);
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 30_000);

  test("headers as GitLab Runner sends them: RUNNER-TOKEN, JOB-TOKEN, a fresh X-Request-Id each time, logged with errors", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    const config = writeConfig(dir, fake, "shell-token");
    fake.failFor(1_500, 500);
    const id = fake.enqueue("shell-token", { script: ["echo headers"] });
    await using daemon = startDaemon(dir, config, mark);
    await waitFor("the job's final state", () => fake.job(id).final !== undefined, 20_000);
    const token = fake.job(id).token;

    const requestIds = fake.received.map((r) => r.headers["x-request-id"]);
    for (const requestId of requestIds) expect(requestId).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(requestIds).size).toBe(requestIds.length);
    for (const request of jobRequests(fake)) expect(request.headers["runner-token"]).toBe("shell-token");
    const jobCalls = fake.received.filter((r) => r.path.startsWith(`/api/v4/jobs/${id}`));
    expect(jobCalls.some((r) => r.method === "PUT")).toBe(true);
    expect(jobCalls.some((r) => r.method === "PATCH")).toBe(true);
    for (const call of jobCalls) {
      expect(call.headers["job-token"]).toBe(token);
      expect(call.headers["runner-token"]).toBeUndefined();
    }
    // A failed request's log line carries the id it was sent with (GitLab answered without one).
    const failure = daemon
      .stderr()
      .split("\n")
      .find((line) => line.includes("asking the coordinator for a job failed; backing off"));
    const logged = /"requestId":"([0-9a-f]{32})"/.exec(failure ?? "")?.[1];
    expect(requestIds).toContain(logged);

    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 30_000);
});
