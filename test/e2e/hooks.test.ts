/**
 * Job hooks (docs/hooks.md) end to end: the compiled binary, the built-in script-hooks plugin, real
 * hook scripts in temp dirs.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  expectNoLeftovers,
  jobJson,
  marker,
  startDrover,
  tempDir,
} from "../harness.ts";

ensureBuilt();

describe("job hooks", () => {
  test("hooks from the environment: started hook's env, path and mask reach the job; completed hook sees the result", async () => {
    using dir = tempDir();
    const bin = join(dir.path, "hookbin");
    const started = dir.file(
      "start.sh",
      [
        'echo "started hook for job $CI_JOB_ID"',
        'echo "::add-mask::hunter2-secret"',
        'echo "FROM_HOOK=set-by-hook" >> "$GITHUB_ENV"',
        `mkdir -p ${bin} && printf '#!/bin/sh\\necho hook tool ran\\n' > ${bin}/hooktool && chmod +x ${bin}/hooktool`,
        `echo "${bin}" >> "$GITHUB_PATH"`,
      ].join("\n"),
    );
    const completed = dir.file(
      "done.sh",
      'echo "completed: $DROVER_JOB_STATUS $CI_JOB_STATUS FROM_HOOK=$FROM_HOOK"\n',
    );
    const env = cleanEnv(dir.path, {
      ACTIONS_RUNNER_HOOK_JOB_STARTED: started,
      ACTIONS_RUNNER_HOOK_JOB_COMPLETED: completed,
    });
    const result = await drover(
      ["exec", "--", 'echo "env: $FROM_HOOK"', "hooktool", 'echo "leak? hunter2-secret"'],
      { cwd: dir.path, env },
    );
    expect(result.exitCode).toBe(0);
    const log = result.stdout;
    expect(log).toContain("Set up runner");
    expect(log).toContain(`Run '${started}'`);
    expect(log).toContain("env: set-by-hook");
    expect(log).toContain("hook tool ran");
    expect(log).toContain("leak? [MASKED]");
    expect(log).not.toContain("hunter2-secret");
    expect(log).toContain("Complete runner");
    expect(log).toContain("completed: success success FROM_HOOK=set-by-hook");
    // Order: Set up runner before the job's stages, Complete runner after cleanup.
    expect(log.indexOf("Set up runner")).toBeLessThan(log.indexOf("build_script"));
    expect(log.indexOf("Complete runner")).toBeGreaterThan(log.indexOf("cleanup_file_variables"));
  });

  test("no hook configured: no extra steps", async () => {
    using dir = tempDir();
    const result = await drover(["exec", "--", "echo plain"], { cwd: dir.path, env: cleanEnv(dir.path) });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).not.toContain("Set up runner");
    expect(result.stdout).not.toContain("Complete runner");
  });

  test("hooks from config.toml, several per hook, run in order", async () => {
    using dir = tempDir();
    const a = dir.file("a.sh", "echo first-hook\n");
    const b = dir.file("b.sh", "echo second-hook\n");
    const config = dir.file(
      "config.toml",
      `[hooks]\n  job_started = ["${a}", { path = "${b}", timeout = 30 }]\n`,
    );
    const result = await drover(["exec", "--config", config, "--", "echo job"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout.indexOf("first-hook")).toBeGreaterThan(-1);
    expect(result.stdout.indexOf("first-hook")).toBeLessThan(result.stdout.indexOf("second-hook"));
  });

  test("a failing started hook fails the job, skips prepare and the stages; the completed hook still runs", async () => {
    using dir = tempDir();
    const started = dir.file("start.sh", "echo refusing this job\nexit 3\n");
    const completed = dir.file("done.sh", 'echo "completed hook ran: $DROVER_JOB_STATUS"\n');
    const config = dir.file(
      "config.toml",
      `[hooks]\n  job_started = "${started}"\n  job_completed = "${completed}"\n`,
    );
    const result = await drover(["exec", "--config", config, "--", "echo the script ran"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.stdout).toContain("refusing this job");
    expect(result.stdout).not.toContain("the script ran\n");
    expect(result.stdout).not.toContain("prepare_script");
    expect(result.stdout).toContain("completed hook ran: failed");
    expect(result.stdout).toContain("job_started hook failed");
    expect(result.exitCode).toBe(2);
  });

  test("the completed hook sees the failure of the script, and a failing completed hook fails a good job", async () => {
    using dir = tempDir();
    const completed = dir.file("done.sh", 'echo "status=$CI_JOB_STATUS reason=$DROVER_JOB_FAILURE_REASON"\n');
    const config = dir.file("config.toml", `[hooks]\n  job_completed = "${completed}"\n`);
    const failing = await drover(["exec", "--config", config, "--", "exit 5"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(failing.stdout).toContain("status=failed reason=script_failure");
    expect(failing.exitCode).toBe(1);

    const strict = dir.file("strict.sh", "echo policy says no\nexit 1\n");
    const config2 = dir.file("config2.toml", `[hooks]\n  job_completed = "${strict}"\n`);
    const good = await drover(["exec", "--config", config2, "--", "echo fine"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(good.stdout).toContain("job_completed hook failed");
    expect(good.exitCode).toBe(2);
  });

  test.each([
    ["hook.py", "print('x')\n", "hook.py"],
    ["missing.sh", undefined, "missing.sh"],
  ])("a hook that cannot run (%s) fails the job with a clear message", async (name, content, mentioned) => {
    using dir = tempDir();
    const path = content === undefined ? join(dir.path, name) : dir.file(name, content);
    const env = cleanEnv(dir.path, { ACTIONS_RUNNER_HOOK_JOB_STARTED: path });
    const result = await drover(["exec", "--", "echo never"], { cwd: dir.path, env });
    expect(result.stdout).toContain(mentioned);
    expect(result.stdout).toContain("job_started hook failed");
    expect(result.stdout).not.toContain("never\n");
    expect(result.exitCode).toBe(2);
  });

  test("a hook that hangs is killed at its timeout, with its whole process group", async () => {
    using dir = tempDir();
    const mark = marker();
    const hanging = dir.file("hang.sh", "trap '' TERM\n(sleep 300 &)\nsleep 300\n");
    const config = dir.file(
      "config.toml",
      `[hooks]\n  job_started = [{ path = "${hanging}", timeout = 1 }]\n`,
    );
    const result = await drover(["exec", "--config", config, "--", "echo never"], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });
    expect(result.stdout).toMatch(/timed out/);
    expect(result.stdout).not.toContain("never\n");
    expect(result.exitCode).toBe(2);
    await expectNoLeftovers(mark.entry);
    // 1 s timeout + the hook's SIGTERM grace (ignored by this script) before SIGKILL.
  }, 20_000);

  test("Ctrl-C while a started hook runs is a cancel (exit 3), not a hook failure", async () => {
    using dir = tempDir();
    const mark = marker();
    const started = dir.file("start.sh", "echo hook running\nsleep 300\n");
    const config = dir.file("config.toml", `[hooks]\n  job_started = "${started}"\n`);
    await using run = startDrover(["exec", "--config", config, "--", "echo never"], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });
    await run.waitForStdout("hook running");
    run.kill("SIGINT");
    expect(await run.exited).toBe(3);
    expect(run.stdout()).toContain("Job canceled");
    expect(run.stdout()).not.toContain("job_started hook failed");
    expect(run.stdout()).not.toContain("never\n");
    await expectNoLeftovers(mark.entry);
  }, 20_000);

  test("Ctrl-C-like cancel still runs the completed hook (job canceled)", async () => {
    using dir = tempDir();
    const completed = dir.file("done.sh", 'echo "completed after cancel: $DROVER_JOB_STATUS"\n');
    const config = dir.file("config.toml", `[hooks]\n  job_completed = "${completed}"\n`);
    const job = dir.file("job.json", jobJson({ runner_info: { timeout: 1 }, script: ["sleep 300"] }));
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.stdout).toContain("completed after cancel: failed");
    expect(result.stdout).toContain("job_execution_timeout");
    expect(result.exitCode).toBe(3);
  });
});
