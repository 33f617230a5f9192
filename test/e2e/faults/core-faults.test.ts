/**
 * Fault injection, the core itself (README.md "Architecture", docs/daemon.md, docs/reliability.md):
 * drover gets SIGTERM mid-job (the job ends `runner_interrupted`, cleanup runs, plugins and job
 * processes are gone, the exit status says so), or SIGKILL mid-job (nothing it left blocks the next
 * start, which removes its stale temp dirs).
 */
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import {
  drover,
  ensureBuilt,
  processesWithEnv,
  shellRunnerConfig,
  startDrover,
  waitFor,
} from "../../harness.ts";
import { customConfig, recorded, type World, world } from "./fault-harness.ts";

ensureBuilt();

function longJob(w: World) {
  return w.job("long", {
    steps: [
      { name: "script", script: ["echo started", "sleep 300"], timeout: 3600, when: "on_success" },
      {
        name: "after_script",
        script: ['echo "after_script: $CI_JOB_STATUS"'],
        timeout: 3600,
        when: "always",
      },
    ],
  });
}

describe("SIGTERM mid-job", () => {
  test.each(["shell", "custom"] as const)(
    "%s: the job ends runner_interrupted, after_script and cleanup run, exit 3, nothing left",
    async (executor) => {
      using w = world();
      const record = join(w.dir.path, "record");
      const config = executor === "shell" ? shellRunnerConfig(w.dir) : customConfig(w);
      await using run = startDrover(["exec", "--config", config, longJob(w)], {
        cwd: w.dir.path,
        env: w.env({ FAULT_RECORD: record }),
      });
      await run.waitForStdout("\nstarted\n");
      run.kill("SIGTERM");
      expect(await run.exited).toBe(3);
      const out = run.stdout();
      // GitLab's CI_JOB_STATUS for an interrupted runner: the job's context was canceled.
      expect(out).toContain("after_script: canceled");
      expect(out).toContain("ERROR: Job failed: the runner was interrupted (runner_interrupted");
      if (executor === "custom")
        expect(recorded(record).slice(-3)).toEqual([
          "run after_script",
          "run cleanup_file_variables",
          "cleanup",
        ]);
      // The plugin processes and the job's `sleep 300` are gone, and so are the temp dirs.
      await w.expectClean();
    },
    20_000,
  );
});

describe("SIGKILL mid-job", () => {
  test("of the core alone: its plugins stop by themselves; the next start is not blocked and removes the stale socket dir", async () => {
    using w = world();
    await using run = startDrover(["exec", "--config", shellRunnerConfig(w.dir), longJob(w)], {
      cwd: w.dir.path,
      env: w.env(),
    });
    await run.waitForStdout("\nstarted\n");
    run.kill("SIGKILL");
    await run.exited;
    // The plugin sees its parent gone and shuts down, stopping the job's processes.
    await waitFor("the plugin and the job to stop", () => processesWithEnv(w.mark.entry).length === 0);
    // What no one could remove: the socket dir the core made for the plugin.
    expect(readdirSync(w.tmp)).toEqual([
      expect.stringMatching(new RegExp(`^drover-plugin-o\\d+\\.${run.pid}\\.`)),
    ]);

    const next = await drover(
      [
        "--log-level",
        "info",
        "exec",
        "--config",
        shellRunnerConfig(w.dir),
        w.job("next", { script: ["echo next works"] }),
      ],
      { cwd: w.dir.path, env: w.env() },
    );
    expect(next.stdout).toContain("next works");
    expect(next.exitCode).toBe(0);
    expect(next.stderr).toContain("removed temp dirs left behind by a killed drover");
    await w.expectClean();
  }, 20_000);

  test("of every process at once (a cgroup kill): the next start removes the socket dirs and the job dir with the job JSON", async () => {
    using w = world();
    const config = customConfig(w);
    const hook = w.dir.file("hook.sh", "echo hook ran\n");
    await using run = startDrover(["exec", "--config", config, longJob(w)], {
      cwd: w.dir.path,
      env: w.env({ ACTIONS_RUNNER_HOOK_JOB_STARTED: hook }),
    });
    await run.waitForStdout("\nstarted\n");
    for (const pid of processesWithEnv(w.mark.entry)) process.kill(pid, "SIGKILL");
    await run.exited;
    await waitFor("every process gone", () => processesWithEnv(w.mark.entry).length === 0);
    const left = readdirSync(w.tmp).sort();
    // Two plugins (custom, script-hooks): two socket dirs; the custom executor's job dir.
    expect(left).toEqual([
      expect.stringMatching(/^custom-executor-o\d+\.\d+\.\d+-/),
      expect.stringMatching(/^drover-plugin-o\d+\.\d+\.\d+-/),
      expect.stringMatching(/^drover-plugin-o\d+\.\d+\.\d+-/),
    ]);
    expect(readdirSync(join(w.tmp, left[0]!))).toContain("response.json");

    const next = await drover(
      ["exec", "--config", config, w.job("next", { id: 1002, script: ["echo next works"] })],
      { cwd: w.dir.path, env: w.env() },
    );
    expect(next.stdout).toContain("next works");
    expect(next.exitCode).toBe(0);
    await w.expectClean();
  }, 20_000);
});
