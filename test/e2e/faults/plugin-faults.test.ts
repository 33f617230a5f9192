/**
 * Fault injection, plugins (README.md "Architecture", docs/plugins.md, docs/reliability.md): a plugin
 * that fails its launch, crashes, hangs, ignores Shutdown or dies between jobs. Each test checks the
 * job's result and message, that the next job works where it can, and that no process and no temp
 * dir is left behind.
 * (exec.test.ts has the single-job launch failures and a plugin that kills itself mid-stage.)
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { drover, ensureBuilt, FIXTURES, shellRunnerConfig, startDrover } from "../../harness.ts";
import { FAULTS, faultPluginConfig, markedProcesses, world } from "./fault-harness.ts";

ensureBuilt();

describe("a plugin that fails its launch", () => {
  const cases: Array<[string, string]> = [
    [join(FIXTURES, "plugins", "exits-early.sh"), "exited before the handshake (exit code 3)"],
    [join(FIXTURES, "plugins", "hangs.sh"), "did not complete the handshake within 500 ms"],
    [join(FIXTURES, "plugins", "garbage.sh"), 'malformed handshake line "Hello! I am a regular program."'],
    [join(FAULTS, "handshake-then-nothing.sh"), "did not answer after its handshake"],
  ];
  test.each(cases)(
    "%s: each job fails with the reason, the next one tries the launch again; nothing left",
    async (plugin, reason) => {
      using w = world();
      const config = w.dir.file(
        "config.toml",
        `concurrent = 1\nplugin_handshake_timeout = 0.5\n[[runners]]\n  name = "broken"\n  executor = "plugin"\n  [runners.plugin]\n    path = "${plugin}"\n`,
      );
      const ran = join(w.dir.path, "ran");
      const a = w.job("first", { script: [`touch ${ran}`] });
      const b = w.job("second", { id: 1002, script: [`touch ${ran}`] });
      const result = await drover(["exec", "--config", config, a, b], { cwd: w.dir.path, env: w.env() });
      for (const job of ["first", "second"]) {
        expect(result.stdout).toContain(`[${job}] ERROR: Preparation failed: `);
        expect(result.stdout).toMatch(new RegExp(`\\[${job}\\] ERROR: Job failed: .*runner_system_failure`));
      }
      expect(result.stdout.split(reason).length - 1).toBeGreaterThanOrEqual(2);
      expect(readdirSync(w.dir.path)).not.toContain("ran");
      expect(result.exitCode).toBe(2);
      // No plugin process, and no socket dir (drover removes it after a failed launch).
      await w.expectClean();
    },
  );
});

describe("a plugin that crashes or hangs during a job", () => {
  test("SIGKILL of the plugin during Run: that job is a system failure naming it, its processes go, the next job works", async () => {
    using w = world();
    const config = shellRunnerConfig(w.dir, {}, "concurrent = 1");
    const victim = w.job("victim", { script: ["sleep 300 & echo started", "wait"] });
    const survivor = w.job("survivor", { id: 1002, script: ["echo survivor ran"] });
    await using run = startDrover(["--log-level", "info", "exec", "--config", config, victim, survivor], {
      cwd: w.dir.path,
      env: w.env(),
    });
    await run.waitForStdout("[victim] started");
    const plugins = markedProcesses(w, "__plugin shell");
    expect(plugins).toHaveLength(1);
    process.kill(plugins[0]!, "SIGKILL"); // the OOM killer's way
    expect(await run.exited).toBe(2);
    const out = run.stdout();
    expect(out).toContain(
      '[victim] ERROR: Job failed: plugin "shell" died (signal SIGKILL) (runner_system_failure',
    );
    // Cleanup was tried, and says why it could not run.
    expect(out).toContain('[victim] WARNING: Cleanup script failed: plugin "shell" died (signal SIGKILL)');
    expect(out).toContain("[survivor] survivor ran");
    expect(out).toContain("[survivor] Job succeeded");
    expect(run.stderr()).toContain("restarting plugin after it died");
    // The job's `sleep 300` (in a process group only the dead plugin knew) is gone, and so is the
    // dead plugin's script dir.
    await w.expectClean();
  });

  test("a plugin hung during Run (its event loop stuck): the job timeout ends the job, drover kills the plugin, the next job gets a new one", async () => {
    using w = world();
    const pids = join(w.dir.path, "pids");
    mkdirSync(pids);
    const config = faultPluginConfig(w, "concurrent = 1");
    const hung = w.job("hung", {
      runner_info: { timeout: 1 },
      steps: [
        { name: "script", script: ["echo FAULT_BUSY_RUN"], timeout: 3600, when: "on_success" },
        { name: "after_script", script: ["echo after"], timeout: 3600, when: "always" },
      ],
    });
    const next = w.job("next", { id: 1002, script: ["echo next works"] });
    const result = await drover(["exec", "--config", config, hung, next], {
      cwd: w.dir.path,
      env: w.env({ FAULT_PID_DIR: pids }),
    });
    expect(result.stdout).toContain(
      "[hung] ERROR: Job failed: execution took longer than 1s (job_execution_timeout",
    );
    // after_script and cleanup could not run on the hung plugin: they fail at once when it is killed.
    expect(result.stdout).toMatch(
      /\[hung\] WARNING: after_script failed: plugin "faulty" died \(signal SIGKILL: killed by drover, it did not answer a health check within 3000 ms after a call was cancelled\)/,
    );
    expect(result.stdout).toContain('[hung] WARNING: Cleanup script failed: plugin "faulty" died');
    expect(result.stdout).toContain("[next] next works");
    expect(result.stdout).toContain("[next] Job succeeded");
    expect(result.exitCode).toBe(3);
    expect(readdirSync(pids)).toHaveLength(2);
    // (The test's own 30 s timeout is the bound: job timeout 1 s + liveness probe 3 s, not
    // after_script's 5 minutes. No timed assertion: timings belong to scripts/bench.)
    await w.expectClean();
  }, 30_000);

  test("a plugin whose Run ignores the cancel (event loop free): the job timeout ends the job; the plugin still answers, so it serves the next job", async () => {
    using w = world();
    const pids = join(w.dir.path, "pids");
    mkdirSync(pids);
    const config = faultPluginConfig(w, "concurrent = 1");
    const stuck = w.job("stuck", {
      runner_info: { timeout: 1 },
      steps: [
        { name: "script", script: ["echo FAULT_IGNORE_RUN"], timeout: 3600, when: "on_success" },
        { name: "after_script", script: ["echo after_script ran"], timeout: 3600, when: "always" },
      ],
    });
    const next = w.job("next", { id: 1002, script: ["echo next works"] });
    const result = await drover(["exec", "--config", config, stuck, next], {
      cwd: w.dir.path,
      env: w.env({ FAULT_PID_DIR: pids }),
    });
    expect(result.stdout).toContain(
      "[stuck] ERROR: Job failed: execution took longer than 1s (job_execution_timeout",
    );
    expect(result.stdout).toContain("[stuck] after_script ran");
    expect(result.stdout).not.toContain("[stuck] WARNING: Cleanup script failed");
    expect(result.stdout).toContain("[next] Job succeeded");
    expect(result.exitCode).toBe(3);
    expect(readdirSync(pids)).toHaveLength(1);
    await w.expectClean();
  }, 20_000);
});

describe("a plugin at the end of its life", () => {
  test("a second Ctrl-C during after_script: Cleanup is told that drover stopped the plugin, not that it crashed or hung", async () => {
    using w = world();
    const config = shellRunnerConfig(w.dir);
    const job = w.job("aborted", {
      steps: [
        { name: "script", script: ["echo started", "sleep 300"], timeout: 3600, when: "on_success" },
        { name: "after_script", script: ["echo after-started", "sleep 300"], timeout: 3600, when: "always" },
      ],
    });
    await using run = startDrover(["exec", "--config", config, job], { cwd: w.dir.path, env: w.env() });
    await run.waitForStdout("started\n");
    run.kill("SIGINT");
    await run.waitForStdout("after-started\n");
    run.kill("SIGINT");
    expect(await run.exited).toBe(3);
    const out = run.stdout();
    expect(out).toContain(
      'WARNING: Cleanup script failed: plugin "shell" was stopped by drover: the run was aborted',
    );
    expect(out).toContain("Job canceled");
    // The liveness probe the cancel started must not take the plugin drover kills for a hung one.
    expect(`${out}${run.stderr()}`).not.toContain("health check");
    expect(out).not.toContain("died");
    await w.expectClean();
  });

  test("a plugin that ignores Shutdown is SIGKILLed after the 2 s grace; the job's status stands", async () => {
    using w = world();
    const config = faultPluginConfig(w);
    const job = w.job("job", { script: ["echo fine"] });
    const result = await drover(["exec", "--config", config, job], {
      cwd: w.dir.path,
      env: w.env({ FAULT_MODE: "ignore-shutdown" }),
    });
    expect(result.stdout).toContain("Job succeeded");
    expect(result.stderr).toContain("plugin did not stop within the grace period after Shutdown; killing it");
    expect(result.exitCode).toBe(0);
    await w.expectClean();
  }, 20_000);

  test("a plugin that dies between two jobs is started again for the next one", async () => {
    using w = world();
    const pids = join(w.dir.path, "pids");
    mkdirSync(pids);
    const config = faultPluginConfig(w, "concurrent = 1");
    const first = w.job("first", { script: ["echo first works"] });
    const second = w.job("second", { id: 1002, script: ["echo second works"] });
    const result = await drover(["--log-level", "info", "exec", "--config", config, first, second], {
      cwd: w.dir.path,
      env: w.env({ FAULT_MODE: "die-after-job", FAULT_PID_DIR: pids }),
    });
    expect(result.stdout).toContain("[first] Job succeeded");
    expect(result.stdout).toContain("[second] second works");
    expect(result.stdout).toContain("[second] Job succeeded");
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("restarting plugin after it died");
    expect(readdirSync(pids)).toHaveLength(2);
    await w.expectClean();
  }, 20_000);
});
