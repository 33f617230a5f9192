/**
 * Fault injection, the processes that run a job (docs/jobs.md, docs/custom-executor.md,
 * docs/reliability.md): a job script (shell executor) or a custom executor driver
 * (test/fixtures/faults/driver.sh) that leaves children behind, prints 50 MiB in one line, prints
 * bytes that are not UTF-8, closes stdout early, dies by a signal or ignores SIGTERM. Each test
 * checks the job's result and message, that cleanup ran, and that no process and no temp dir is
 * left behind.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { drover, ensureBuilt, shellRunnerConfig } from "../../harness.ts";
import { customConfig, FAULTS, recorded, type World, world } from "./fault-harness.ts";

ensureBuilt();

type Executor = "shell" | "custom";

/**
 * A job whose build_script has `fault`: through the shell executor the script lines do it, through
 * the custom executor driver.sh does (the job variable FAULT). `after` is an after_script.
 */
function faultJob(
  w: World,
  executor: Executor,
  fault: { shell: string[]; custom: string },
  options: { after?: string[]; variables?: Array<{ key: string; value: string }>; timeout?: number } = {},
) {
  const variables = [
    { key: "GIT_STRATEGY", value: "none" },
    ...(executor === "custom" ? [{ key: "FAULT", value: fault.custom }] : []),
    ...(options.variables ?? []),
  ];
  return w.job(`${executor}-${fault.custom}`, {
    variables,
    ...(options.timeout === undefined ? {} : { runner_info: { timeout: options.timeout } }),
    steps: [
      {
        name: "script",
        script: executor === "shell" ? fault.shell : ["echo the driver does the fault"],
        timeout: 3600,
        when: "on_success",
      },
      ...(options.after
        ? [{ name: "after_script", script: options.after, timeout: 3600, when: "always" }]
        : []),
    ],
  });
}

/** A config for `executor`; the custom one records its driver calls into `record`. */
function configFor(w: World, executor: Executor, runner: Record<string, unknown> = {}): string {
  return executor === "shell" ? shellRunnerConfig(w.dir, runner) : customConfig(w, {}, runner);
}

const EXECUTORS: Executor[] = ["shell", "custom"];

/** Cleanup ran: for the custom executor, driver.sh recorded cleanup_exec last. */
function expectCleanupRan(executor: Executor, record: string): void {
  if (executor === "custom") expect(recorded(record).at(-1)).toBe("cleanup");
}

describe.each(EXECUTORS)("%s executor", (executor) => {
  test("a background child that outlives the script is killed with its process group; the stage ends at once", async () => {
    using w = world();
    const record = join(w.dir.path, "record");
    const job = faultJob(w, executor, { shell: ["sleep 300 &", "echo left a child"], custom: "background" });
    const result = await drover(["exec", "--config", configFor(w, executor), job], {
      cwd: w.dir.path,
      env: w.env({ FAULT_RECORD: record }),
    });
    expect(result.stdout).toContain("Job succeeded");
    expect(result.exitCode).toBe(0);
    expectCleanupRan(executor, record);
    await w.expectClean();
  });

  test("a background child in its own session (setsid) that holds stdout is found by its tag and killed when the stage ends", async () => {
    using w = world();
    const record = join(w.dir.path, "record");
    const pidFile = join(w.dir.path, "daemon.pid");
    const job = faultJob(
      w,
      executor,
      {
        shell: [
          `setsid bash -c 'echo $$ > "$DAEMON_PID_FILE"; exec sleep 300' &`,
          'while [ ! -s "$DAEMON_PID_FILE" ]; do sleep 0.01; done',
          "echo daemon started",
        ],
        custom: "daemon",
      },
      {
        variables: [{ key: "DAEMON_PID_FILE", value: pidFile }],
        // Alive: its /proc entry is there and not a zombie (a container's init may not reap it).
        after: [
          'state=$(sed "s/.*) //" "/proc/$(cat "$DAEMON_PID_FILE")/stat" 2>/dev/null | cut -c1)',
          'if [ -n "$state" ] && [ "$state" != Z ]; then echo daemon alive; else echo daemon gone; fi',
        ],
      },
    );
    const result = await drover(["exec", "--config", configFor(w, executor), job], {
      cwd: w.dir.path,
      env: w.env({ FAULT_RECORD: record }),
    });
    expect(result.stdout).toContain("daemon started");
    // Gone when the stage ended (after_script runs after it), not only when drover exits.
    expect(result.stdout).toContain("\ndaemon gone\n");
    expect(result.stdout).toContain("Job succeeded");
    expect(result.exitCode).toBe(0);
    expect(readFileSync(pidFile, "utf8")).toMatch(/^\d+\n$/);
    expectCleanupRan(executor, record);
    await w.expectClean();
  });

  test("50 MiB in one line reaches the log whole (output_limit raised); drover stays bounded", async () => {
    using w = world();
    const record = join(w.dir.path, "record");
    const size = 50 * 1024 * 1024;
    const job = faultJob(w, executor, {
      shell: [`head -c ${size} /dev/zero | tr '\\0' Q; echo`],
      custom: "big-line",
    });
    const result = await drover(
      ["exec", "--config", configFor(w, executor, { output_limit: 100 * 1024 }), job],
      { cwd: w.dir.path, env: w.env({ FAULT_RECORD: record }) },
    );
    const out = result.stdoutBytes;
    const start = out.indexOf("QQQQQQQQ");
    expect(start).toBeGreaterThan(0);
    let end = start;
    while (out[end] === 0x51) end++;
    expect(end - start).toBe(size);
    expect(out[end]).toBe(0x0a);
    expect(result.stdout).toContain("Job succeeded");
    expect(result.exitCode).toBe(0);
    expectCleanupRan(executor, record);
    await w.expectClean();
  }, 30_000);

  test("invalid UTF-8 and NUL bytes pass through byte-exact", async () => {
    using w = world();
    const record = join(w.dir.path, "record");
    const bytes = readFileSync(join(FAULTS, "binary.bin"));
    const job = faultJob(w, executor, { shell: [`cat '${join(FAULTS, "binary.bin")}'`], custom: "binary" });
    const result = await drover(["exec", "--config", configFor(w, executor), job], {
      cwd: w.dir.path,
      env: w.env({ FAULT_RECORD: record }),
    });
    expect(result.stdoutBytes.includes(bytes)).toBe(true);
    expect(result.stdout).toContain("Job succeeded");
    expect(result.exitCode).toBe(0);
    expectCleanupRan(executor, record);
    await w.expectClean();
  });

  test("stdout closed early: stderr still reaches the log, the stage ends when the process does", async () => {
    using w = world();
    const record = join(w.dir.path, "record");
    const job = faultJob(w, executor, {
      shell: ['echo before; exec 1>&-; sleep 0.2; echo "driver: stdout closed, still running" >&2'],
      custom: "close-stdout",
    });
    const result = await drover(["exec", "--config", configFor(w, executor), job], {
      cwd: w.dir.path,
      env: w.env({ FAULT_RECORD: record }),
    });
    expect(result.stdout).toContain("driver: stdout closed, still running");
    expect(result.stdout).toContain("Job succeeded");
    expect(result.exitCode).toBe(0);
    expectCleanupRan(executor, record);
    await w.expectClean();
  });
});

describe("killed by a signal", () => {
  test("shell: a script killed by SIGSEGV is a script failure with exit code 139", async () => {
    using w = world();
    const job = faultJob(w, "shell", { shell: ["echo crashing", "kill -SEGV $$"], custom: "signal" });
    const result = await drover(["exec", "--config", shellRunnerConfig(w.dir), job], {
      cwd: w.dir.path,
      env: w.env(),
    });
    expect(result.stdout).toContain("terminated by SIGSEGV");
    expect(result.stdout).toContain("ERROR: Job failed: exit code 139 (script_failure");
    expect(result.exitCode).toBe(1);
    await w.expectClean();
  });

  test("custom: a driver killed by SIGSEGV is a system failure (GitLab: unknown exit code); cleanup runs", async () => {
    using w = world();
    const record = join(w.dir.path, "record");
    const job = faultJob(w, "custom", { shell: [], custom: "signal" });
    const result = await drover(["exec", "--config", customConfig(w), job], {
      cwd: w.dir.path,
      env: w.env({ FAULT_RECORD: record }),
    });
    expect(result.stdout).toContain(
      "unknown Custom executor executable exit code -1; executable execution terminated with: signal SIGSEGV",
    );
    expect(result.stdout).toContain("(runner_system_failure");
    expect(result.exitCode).toBe(2);
    expectCleanupRan("custom", record);
    await w.expectClean();
  });
});

describe("SIGTERM ignored", () => {
  test("custom: at the job timeout a driver ignoring SIGTERM is SIGKILLed after graceful_kill_timeout; after_script and cleanup run", async () => {
    using w = world();
    const record = join(w.dir.path, "record");
    const job = faultJob(
      w,
      "custom",
      { shell: [], custom: "ignore-term" },
      { timeout: 1, after: ['echo "after_script: $CI_JOB_STATUS"'] },
    );
    const result = await drover(["exec", "--config", customConfig(w), job], {
      cwd: w.dir.path,
      env: w.env({ FAULT_RECORD: record }),
    });
    expect(result.stdout).toContain("driver: ignoring SIGTERM");
    expect(result.stdout).toContain("after_script: timedout");
    expect(result.stdout).toContain(
      "ERROR: Job failed: execution took longer than 1s (job_execution_timeout",
    );
    expect(result.exitCode).toBe(3);
    expect(recorded(record).slice(-3)).toEqual(["run after_script", "run cleanup_file_variables", "cleanup"]);
    await w.expectClean();
  }, 20_000);
});

describe("the log size limit", () => {
  test("output beyond output_limit is cut with a clear line; the job goes on and succeeds", async () => {
    using w = world();
    const job = w.job("chatty", {
      script: ["head -c 8388608 /dev/zero | tr '\\0' Q; echo", "echo after the flood"],
    });
    const result = await drover(["exec", "--config", shellRunnerConfig(w.dir, { output_limit: 1024 }), job], {
      cwd: w.dir.path,
      env: w.env(),
    });
    expect(result.stdout).toContain("Job's log exceeded limit of 1048576 bytes.");
    expect(result.stdout).not.toContain("after the flood");
    expect(result.stdoutBytes.length).toBeLessThan(1024 * 1024 + 4096);
    expect(result.exitCode).toBe(0);
    await w.expectClean();
  });
});
