/**
 * What a job leaves running when it ends (docs/security.md, "What a job leaves behind"): a child in
 * its own session with its output closed outlives the stage that started it, and, under `drover
 * run`, would read the next job's secrets from /proc/<pid>/environ. drover kills everything a job
 * started when the job ends: by its tracking id, and by its cgroup where the host gives drover one
 * (this one does: CI runs as root with a cgroup2 hierarchy mounted), which even a child that dropped
 * every drover variable from its environment cannot leave.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FakeCoordinator } from "../../fixtures/fake-coordinator.ts";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  expectNoLeftovers,
  marker,
  shellRunnerConfig,
  startDrover,
  tempDir,
  waitFor,
} from "../../harness.ts";

ensureBuilt();

/** Pids whose command line contains `needle` (one no other process has: a unique sleep). */
function running(needle: string): number[] {
  const found = Bun.spawnSync(["pgrep", "-f", needle]).stdout.toString().trim();
  return found ? found.split("\n").map(Number) : [];
}

describe("drover exec", () => {
  test("a setsid child that dropped DROVER_JOB_TRACKING_ID and DROVER_PROCESS_TAG is killed when the job ends", async () => {
    using dir = tempDir();
    const unique = "sleep 987.125";
    const result = await drover(
      [
        "--log-level",
        "info",
        "exec",
        "--",
        `env -u DROVER_JOB_TRACKING_ID -u DROVER_PROCESS_TAG setsid sh -c 'exec ${unique}' </dev/null >/dev/null 2>&1 &`,
        // The stage ends only once the child has left its process group: a race lost at the
        // stage's end would prove nothing.
        `until pgrep -f '^${unique}' >/dev/null; do sleep 0.01; done`,
        "echo started it",
      ],
      { cwd: dir.path, env: cleanEnv(dir.path) },
    );
    expect(result.exitCode).toBe(0);
    // This host lets drover make a cgroup per job; a host that does not says so here instead.
    expect(result.stderr).toContain("cgroup v2 (jobs below");
    expect(result.stdout).toContain("WARNING: killed 1 process(es) the job left running");
    expect(running(unique)).toEqual([]);
  });
});

describe("drover run", () => {
  test("a spy the first job leaves behind is gone before the next job's secret exists", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("shell-token");
    const mark = marker();
    const stolen = join(dir.path, "stolen");
    const config = shellRunnerConfig(
      dir,
      { url: fake.url, token: "shell-token", builds_dir: join(dir.path, "builds") },
      "concurrent = 1\ncheck_interval = 1",
    );
    // Job 1 leaves a spy: its own session, its output closed, looking for the next job's secret in
    // every process's environment, then the sweep-proof variant of it.
    const spy = (name: string, unset: string) =>
      `${unset} setsid sh -c 'while :; do for f in /proc/[0-9]*/environ; do tr "\\0" "\\n" < "$f" 2>/dev/null | grep -q NEXT_SECRET= && tr "\\0" "\\n" < "$f" > ${stolen}-${name}; done; sleep 0.01; done; : spy-${name}' </dev/null >/dev/null 2>&1 &`;
    const first = fake.enqueue("shell-token", {
      script: [
        spy("tagged", ""),
        spy("untagged", "env -u DROVER_JOB_TRACKING_ID -u DROVER_PROCESS_TAG"),
        // The job ends only once both have left its process group.
        `until [ "$(pgrep -fc ': spy-')" -ge 2 ]; do sleep 0.01; done`,
        "echo spies started",
      ],
    });
    const secret = "N3xt-Job-Secret-Value";
    const second = fake.enqueue("shell-token", {
      script: ['echo "second job with its secret"', "sleep 0.5"],
      variables: [{ key: "NEXT_SECRET", value: secret, public: false, masked: true }],
    });
    await using daemon = startDrover(["--log-level", "info", "run", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });
    await waitFor("the first job to finish", () => fake.job(first).final !== undefined, 30_000);
    expect(fake.traceText(first)).toContain("spies started");
    // Both spies (and whatever they had running at that moment): none is left.
    expect(fake.traceText(first)).toMatch(/WARNING: killed [2-9]\d* process\(es\) the job left running/);
    expect(running(": spy-")).toEqual([]);
    await waitFor("the second job to finish", () => fake.job(second).final !== undefined, 30_000);
    expect(fake.job(second).final?.state).toBe("success");
    expect(existsSync(`${stolen}-tagged`)).toBe(false);
    expect(existsSync(`${stolen}-untagged`)).toBe(false);
    daemon.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    await expectNoLeftovers(mark.entry);
  }, 40_000);
});
