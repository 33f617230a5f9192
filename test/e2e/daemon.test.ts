/**
 * `drover run` end to end (docs/daemon.md): the compiled binary against the fake GitLab in
 * test/fixtures/fake-coordinator.ts, real plugins, real drivers (examples/custom-driver), real
 * signals. Every wait is for a condition (a trace line, a recorded state, a log line), never for time.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { FakeCoordinator, type FakeJob } from "../fixtures/fake-coordinator.ts";
import {
  cleanEnv,
  ensureBuilt,
  expectNoLeftovers,
  marker,
  ROOT,
  type Running,
  startDrover,
  type TempDir,
  tempDir,
  waitFor,
} from "../harness.ts";

ensureBuilt();

const EXAMPLE = join(ROOT, "examples", "custom-driver");

interface RunnerSpec {
  name: string;
  token: string;
  executor: "shell" | "custom";
  limit?: number;
}

/** A config.toml with the given runners, all pointed at `fake`. */
function writeConfig(
  dir: TempDir,
  fake: FakeCoordinator,
  runners: RunnerSpec[],
  top: { concurrent?: number; listen?: boolean } = {},
  file = "config.toml",
): string {
  const lines = [`concurrent = ${top.concurrent ?? 4}`, "check_interval = 1", "shutdown_timeout = 20"];
  if (top.listen) lines.push('listen_address = "127.0.0.1:0"');
  for (const r of runners) {
    lines.push(
      "[[runners]]",
      `  name = "${r.name}"`,
      `  url = "${fake.url}"`,
      `  token = "${r.token}"`,
      `  executor = "${r.executor}"`,
      `  builds_dir = ${JSON.stringify(join(dir.path, "builds", r.name))}`,
      `  limit = ${r.limit ?? 0}`,
    );
    if (r.executor === "custom") {
      lines.push(
        "  [runners.custom]",
        `    config_exec = ${JSON.stringify(join(EXAMPLE, "config.sh"))}`,
        `    prepare_exec = ${JSON.stringify(join(EXAMPLE, "prepare.sh"))}`,
        `    run_exec = ${JSON.stringify(join(EXAMPLE, "run.sh"))}`,
        `    cleanup_exec = ${JSON.stringify(join(EXAMPLE, "cleanup.sh"))}`,
      );
    }
  }
  return dir.file(file, `${lines.join("\n")}\n`);
}

/** `drover run` at info level (its log, on stderr, says what it does), drivers under `dir`/driver. */
function startDaemon(dir: TempDir, config: string, mark: ReturnType<typeof marker>): Running {
  return startDrover(["--log-level", "info", "run", "--config", config], {
    cwd: dir.path,
    env: cleanEnv(dir.path, { DRIVER_BASE_DIR: join(dir.path, "driver"), [mark.name]: mark.value }),
  });
}

function finished(job: FakeJob): boolean {
  return job.final !== undefined;
}

/** The checksum and size drover sent match GitLab's copy of the trace byte for byte. */
function expectTraceVerified(job: FakeJob): void {
  expect(job.final?.output).toEqual({
    checksum: `crc32:${crc32(job.trace).toString(16).padStart(8, "0")}`,
    bytesize: job.trace.length,
  });
}

function secretVariable(value: string) {
  return { key: "SECRET", value, public: false, masked: true };
}

describe("drover run", () => {
  test("20 jobs across a shell and a custom runner, concurrent = 4: every state and trace recorded, never more than 4 at once", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token").acceptRunner("custom-token");
    const mark = marker();
    const config = writeConfig(
      dir,
      fake,
      [
        { name: "shell", token: "shell-token", executor: "shell" },
        { name: "custom", token: "custom-token", executor: "custom" },
      ],
      { concurrent: 4, listen: true },
    );
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) {
      ids.push(
        fake.enqueue(i % 2 ? "custom-token" : "shell-token", {
          script: [
            'echo "start $CI_JOB_ID"',
            "sleep 0.3",
            'echo "secret is $SECRET"',
            'echo "end $CI_JOB_ID"',
          ],
          variables: [secretVariable(`s3cr3t-value-${i}`)],
        }),
      );
    }
    await using daemon = startDaemon(dir, config, mark);
    await waitFor("20 final states", () => ids.every((id) => finished(fake.job(id))), 45_000);

    for (const [i, id] of ids.entries()) {
      const job = fake.job(id);
      const trace = fake.traceText(id);
      expect(job.status).toBe("success");
      expect(job.final?.state).toBe("success");
      expect(trace).toContain(`start ${id}\n`);
      expect(trace).toContain(`end ${id}\n`);
      expect(trace).toContain("Job succeeded");
      expect(trace).toContain("secret is [MASKED]");
      expect(trace).not.toContain(`s3cr3t-value-${i}`);
      expectTraceVerified(job);
      // PUT state=running first, the final state last.
      expect(job.updates[0]?.state).toBe("running");
      expect(job.updates.at(-1)?.state).toBe("success");
    }
    // Jobs counted from their 201 to their final state: all four places used, never a fifth job.
    expect(fake.maxActive).toBe(4);

    // The job request carries the runner info and features GitLab Runner sends.
    const request = fake.requests.find(
      (r) => r.endpoint === "request_job" && r.runnerToken === "custom-token",
    );
    const info = request?.body?.info as { name: string; executor: string; features: Record<string, boolean> };
    expect(info.name).toBe("drover");
    expect(info.executor).toBe("custom");
    expect(info.features).toMatchObject({
      trace_checksum: true,
      trace_size: true,
      cancelable: true,
      masking: true,
    });

    // Metrics and health on listen_address.
    await daemon.waitForStderr(/"address":"127\.0\.0\.1:\d+"/);
    const address = /"address":"(127\.0\.0\.1:\d+)"/.exec(daemon.stderr())![1];
    const metrics = await (await fetch(`http://${address}/metrics`)).text();
    expect(metrics).toContain('drover_jobs_total{runner="shell",state="success"} 10');
    expect(metrics).toContain('drover_jobs_total{runner="custom",state="success"} 10');
    expect(metrics).toContain(
      'drover_job_stage_duration_seconds_count{runner="custom",stage="build_script"} 10',
    );
    expect(metrics).toContain("# TYPE drover_plugin_restarts_total counter");
    expect(metrics).toMatch(
      /drover_coordinator_requests_total\{runner="shell",endpoint="patch_trace",status="202"\} \d+/,
    );
    const health = await fetch(`http://${address}/healthz`);
    expect(health.status).toBe(200);

    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 60_000);

  test("CI_DEBUG_TRACE=true: the trace shows the commands and every patch says debug_trace=true", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    const config = writeConfig(dir, fake, [{ name: "shell", token: "shell-token", executor: "shell" }]);
    const traced = fake.enqueue("shell-token", {
      script: ["echo traced"],
      variables: [{ key: "CI_DEBUG_TRACE", value: "true", public: true, masked: false }],
    });
    const plain = fake.enqueue("shell-token", { script: ["echo plain"] });
    await using daemon = startDaemon(dir, config, mark);
    await waitFor(
      "both jobs' final states",
      () => finished(fake.job(traced)) && finished(fake.job(plain)),
      30_000,
    );
    expect(fake.traceText(traced)).toMatch(/\n\++ echo traced\n/);
    expect(fake.job(traced).patches.map((p) => p.debugTrace)).toEqual(
      fake.job(traced).patches.map(() => "true"),
    );
    expect(fake.job(plain).patches.length).toBeGreaterThan(0);
    expect(fake.job(plain).patches.every((p) => p.debugTrace === "false")).toBe(true);
    daemon.kill("SIGTERM");
    await daemon.exited;
  });

  test("a cancel from the coordinator mid-job: after_script and cleanup run, the job ends canceled", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("custom-token");
    const mark = marker();
    const config = writeConfig(dir, fake, [{ name: "custom", token: "custom-token", executor: "custom" }]);
    const id = fake.enqueue("custom-token", {
      script: ["for i in $(seq 1 300); do echo tick $i; sleep 0.1; done"],
      afterScript: ['echo "after_script ran: $CI_JOB_STATUS"'],
    });
    await using daemon = startDaemon(dir, config, mark);
    await waitFor("the job to tick", () => fake.traceText(id).includes("tick 2\n"));
    expect(existsSync(join(dir.path, "driver", "jobs", `job-${id}`))).toBe(true);
    fake.cancel(id);
    await waitFor("the final state", () => finished(fake.job(id)));

    const job = fake.job(id);
    expect(job.status).toBe("canceled");
    expect(job.final).toMatchObject({ state: "failed", failure_reason: "job_canceled" });
    expect(fake.traceText(id)).toContain("after_script ran: canceled");
    expect(fake.traceText(id)).not.toContain("tick 300");
    expectTraceVerified(job);
    // cleanup_exec ran: the example driver removes the job's directory.
    expect(existsSync(join(dir.path, "driver", "jobs", `job-${id}`))).toBe(false);

    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 30_000);

  test("Job-Status canceled aborts the job at once; the runner goes on with the next one", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    const config = writeConfig(dir, fake, [
      { name: "shell", token: "shell-token", executor: "shell", limit: 1 },
    ]);
    const id = fake.enqueue("shell-token", {
      script: ["for i in $(seq 1 300); do echo tick $i; sleep 0.1; done"],
      afterScript: ["echo after_script ran"],
    });
    const next = fake.enqueue("shell-token");
    await using daemon = startDaemon(dir, config, mark);
    await waitFor("the job to tick", () => fake.traceText(id).includes("tick 2\n"));
    fake.cancel(id, "canceled");
    await waitFor("the next job", () => finished(fake.job(next)));

    expect(fake.job(id).status).toBe("canceled");
    expect(fake.traceText(id)).not.toContain("after_script ran");
    expect(daemon.stderr()).toContain("the job is over on the coordinator's side");
    expect(fake.job(next).status).toBe("success");

    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 30_000);

  test("the coordinator answers 500 for 5 seconds, then recovers: nothing is lost", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    const config = writeConfig(dir, fake, [{ name: "shell", token: "shell-token", executor: "shell" }]);
    const first = fake.enqueue("shell-token", {
      script: ["for i in $(seq 1 20); do echo line $i; sleep 0.1; done", "echo first done"],
    });
    await using daemon = startDaemon(dir, config, mark);
    await waitFor("the first trace patch", () => fake.traceText(first).includes("line 1\n"));
    fake.failFor(5_000);
    const later = [fake.enqueue("shell-token"), fake.enqueue("shell-token")];
    await waitFor("every final state", () => [first, ...later].every((id) => finished(fake.job(id))), 30_000);

    expect(fake.countRequests((r) => r.status === 500)).toBeGreaterThan(0);
    const trace = fake.traceText(first);
    for (let i = 1; i <= 20; i++) expect(trace).toContain(`line ${i}\n`);
    expect(trace).toContain("first done");
    expect(fake.job(first).status).toBe("success");
    expectTraceVerified(fake.job(first));
    for (const id of later) expect(fake.job(id).status).toBe("success");
    expect(daemon.stderr()).toContain("backing off");

    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 45_000);

  test("SIGTERM mid-job: the job is reported runner_interrupted, after_script and cleanup ran, exit 0", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("custom-token");
    const mark = marker();
    const config = writeConfig(dir, fake, [
      { name: "custom", token: "custom-token", executor: "custom", limit: 1 },
    ]);
    const id = fake.enqueue("custom-token", {
      script: ["for i in $(seq 1 300); do echo tick $i; sleep 0.1; done"],
      afterScript: ['echo "after_script ran: $CI_JOB_STATUS"'],
    });
    const queued = fake.enqueue("custom-token");
    await using daemon = startDaemon(dir, config, mark);
    await waitFor("the job to tick", () => fake.traceText(id).includes("tick 2\n"));
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);

    const job = fake.job(id);
    expect(job.final).toMatchObject({ state: "failed", failure_reason: "runner_interrupted" });
    expect(fake.traceText(id)).toContain("after_script ran:");
    expectTraceVerified(job);
    expect(existsSync(join(dir.path, "driver", "jobs", `job-${id}`))).toBe(false);
    // Polling stopped: the second job was never taken.
    expect(fake.job(queued).status).toBe("pending");
    await expectNoLeftovers(mark.entry);
  }, 30_000);

  test("a second SIGTERM forces the exit: plugins and job processes killed, exit 1", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    const config = writeConfig(dir, fake, [{ name: "shell", token: "shell-token", executor: "shell" }]);
    const id = fake.enqueue("shell-token", {
      script: ["for i in $(seq 1 300); do echo tick $i; sleep 0.1; done"],
      afterScript: ["echo after_script starts", "sleep 60"],
    });
    await using daemon = startDaemon(dir, config, mark);
    await waitFor("the job to tick", () => fake.traceText(id).includes("tick 2\n"));
    daemon.kill("SIGTERM");
    await waitFor("after_script to start", () => fake.traceText(id).includes("after_script starts\n"));
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(1);
    expect(daemon.stderr()).toContain("second signal: forcing the exit");
    await expectNoLeftovers(mark.entry);
  }, 30_000);

  test("a job request GitLab holds open (long polling) does not hold up a stop", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    const config = writeConfig(dir, fake, [{ name: "shell", token: "shell-token", executor: "shell" }]);
    await using daemon = startDaemon(dir, config, mark);
    await waitFor("a first request", () => fake.countRequests((r) => r.endpoint === "request_job") > 0);
    fake.delay(60_000);
    await waitFor("a request held open", () => fake.pending > 0);
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 20_000);

  test("SIGQUIT: no new job is taken, the running job finishes and is reported, exit 0", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    // limit = 1: while the job runs, the runner waits for a place rather than asking (no request in flight).
    const config = writeConfig(dir, fake, [
      { name: "shell", token: "shell-token", executor: "shell", limit: 1 },
    ]);
    // The job runs until the test has seen drover stop taking jobs and queued another one.
    const go = join(dir.path, "go");
    const id = fake.enqueue("shell-token", {
      script: ["echo started", `while [ ! -e '${go}' ]; do sleep 0.01; done`, "echo finished"],
    });
    await using daemon = startDaemon(dir, config, mark);
    await waitFor("the job to start", () => fake.traceText(id).includes("started\n"));
    daemon.kill("SIGQUIT");
    await daemon.waitForStderr(/stopping: no new jobs/);
    const after = fake.enqueue("shell-token");
    writeFileSync(go, "");
    expect(await daemon.exited).toBe(0);

    expect(fake.job(id).status).toBe("success");
    expect(fake.traceText(id)).toContain("finished\n");
    expectTraceVerified(fake.job(id));
    expect(fake.job(after).status).toBe("pending");
    await expectNoLeftovers(mark.entry);
  }, 30_000);

  test("SIGHUP reloads config.toml; an invalid new config is logged and the old one kept", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("one-token").acceptRunner("two-token");
    const mark = marker();
    const one: RunnerSpec = { name: "one", token: "one-token", executor: "shell" };
    const two: RunnerSpec = { name: "two", token: "two-token", executor: "shell" };
    const config = writeConfig(dir, fake, [one]);
    const forTwo = fake.enqueue("two-token");
    await using daemon = startDaemon(dir, config, mark);
    await daemon.waitForStderr(/drover run: taking jobs/);

    writeConfig(dir, fake, [one, two]);
    daemon.kill("SIGHUP");
    await daemon.waitForStderr(/configuration reloaded/);
    await waitFor("the new runner's job", () => finished(fake.job(forTwo)));
    expect(fake.job(forTwo).status).toBe("success");

    writeFileSync(config, 'concurrent = "many"\n[[runners]]\n  name = "one"\n');
    daemon.kill("SIGHUP");
    await daemon.waitForStderr(/configuration reload failed/);
    // The log says why: the problem with its key and line.
    const failure = daemon
      .stderr()
      .split("\n")
      .find((line) => line.includes("configuration reload failed"));
    expect(failure).toContain("concurrent");
    // Still running with the previous configuration: both runners take jobs.
    const afterOne = fake.enqueue("one-token");
    const afterTwo = fake.enqueue("two-token");
    await waitFor(
      "jobs after the failed reload",
      () => finished(fake.job(afterOne)) && finished(fake.job(afterTwo)),
    );

    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 30_000);

  test("a 403 makes that runner unhealthy only; garbage answers are backed off from; a malformed job fails alone", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("good-token");
    const mark = marker();
    const config = writeConfig(dir, fake, [
      { name: "good", token: "good-token", executor: "shell" },
      { name: "bad", token: "bad-token", executor: "shell" },
    ]);
    fake.garbageResponses(1);
    const malformed = fake.enqueueRaw("good-token", {
      id: 4242,
      token: "job-token-4242",
      steps: "not a list",
    });
    const good = fake.enqueue("good-token");
    await using daemon = startDaemon(dir, config, mark);
    await waitFor("both final states", () => finished(fake.job(malformed)) && finished(fake.job(good)));

    expect(fake.job(good).status).toBe("success");
    expect(fake.job(malformed).final).toMatchObject({
      state: "failed",
      failure_reason: "runner_system_failure",
    });
    expect(fake.traceText(malformed)).toContain("ERROR: Job failed (system failure): invalid job");
    expect(fake.traceText(malformed)).toContain("steps");
    expectTraceVerified(fake.job(malformed));
    expect(daemon.stderr()).toContain("not JSON");
    expect(daemon.stderr()).toContain("403 Forbidden");

    // The good runner goes on asking; the bad one asked unhealthy_requests_limit (3) times, got
    // 403 each time, and waits unhealthy_interval (60 s) before it asks again
    // (test/e2e/daemon-resilience.test.ts follows it back to health).
    await daemon.waitForStderr(/runner is unhealthy/);
    const goodAsks = () => fake.countRequests((r) => r.runnerToken === "good-token");
    const before = goodAsks();
    await waitFor("the good runner to ask twice more", () => goodAsks() >= before + 2);
    expect(fake.countRequests((r) => r.runnerToken === "bad-token")).toBe(3);

    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 30_000);

  test("the trace resumes from GitLab's Range after a 416, and a masked value split across writes never reaches it", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    const config = writeConfig(dir, fake, [{ name: "shell", token: "shell-token", executor: "shell" }]);
    const secret = "split-secret-4f9a7c";
    const go = join(dir.path, "go");
    const id = fake.enqueue("shell-token", {
      script: [
        // One command: the two halves are contiguous in the output; the second is written only once
        // GitLab's copy of the trace has the first write's "value=".
        `printf "value=%s" "\${SECRET:0:8}"; while [ ! -e '${go}' ]; do sleep 0.01; done; printf "%s\\n" "\${SECRET:8}"`,
        "for i in $(seq 1 25); do echo tick $i; sleep 0.1; done",
      ],
      variables: [secretVariable(secret)],
    });
    await using daemon = startDaemon(dir, config, mark);
    // The masker holds back only what could begin the secret: "value=" is sent while the first half
    // of the secret waits, so the first write went through drover alone. ("\n": not the echoed
    // command, which has "value=" too.)
    await waitFor("the output's value= in a patch", () => fake.traceText(id).includes("\nvalue="));
    expect(fake.traceText(id)).not.toContain(secret.slice(0, 8));
    fake.dropNextPatch(id);
    writeFileSync(go, "");
    await waitFor("the final state", () => finished(fake.job(id)), 20_000);

    const job = fake.job(id);
    expect(job.patches.some((p) => p.status === 416)).toBe(true);
    expectTraceVerified(job);
    const trace = fake.traceText(id);
    for (let i = 1; i <= 25; i++) expect(trace.split(`tick ${i}\n`).length).toBe(2);
    expect(trace).toContain("value=[MASKED]\n");
    expect(trace).not.toContain(secret);
    expect(trace).not.toContain(secret.slice(0, 8));

    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 30_000);
});
