/**
 * `executor = "custom"` end to end: the compiled binary runs GitLab custom executor drivers (the
 * fixtures in test/fixtures/drivers, one per behaviour, and examples/custom-driver) through its
 * built-in shell-driver adapter plugin (docs/custom-executor.md).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import {
  cleanEnv,
  customRunnerConfig,
  drover,
  ensureBuilt,
  expectNoLeftovers,
  FIXTURES,
  jobJson,
  marker,
  ROOT,
  shellRunnerConfig,
  startDrover,
  type TempDir,
  tempDir,
} from "../harness.ts";

ensureBuilt();

const DRIVERS = join(FIXTURES, "drivers");
const RECORD = join(DRIVERS, "record.sh");
const EXAMPLE = join(ROOT, "examples", "custom-driver");

/** One recorded driver call (see test/fixtures/drivers/record.sh). */
interface DriverCall {
  stage: string;
  args: string[];
  env: Map<string, string>;
  cwd: string;
  responseMode: string;
  response: { id: number };
  scriptMode: string | undefined;
}

/**
 * A custom runner whose four drivers are record.sh unless `custom` says otherwise, building in
 * `dir`/builds unless `runner` says otherwise (see customRunnerConfig).
 */
function customConfig(
  dir: TempDir,
  custom: Record<string, unknown> = {},
  runner: Record<string, unknown> = {},
): string {
  const drivers: Record<string, unknown> = {
    config_exec: RECORD,
    config_args: ["config"],
    prepare_exec: RECORD,
    prepare_args: ["prepare"],
    run_exec: RECORD,
    run_args: ["run"],
    cleanup_exec: RECORD,
    cleanup_args: ["cleanup"],
    ...custom,
  };
  return customRunnerConfig(dir, drivers, { builds_dir: join(dir.path, "builds"), ...runner });
}

/** The record dir the fixtures write to, and what config_exec answers (config.json in it). */
function recordDir(dir: TempDir, configAnswer?: unknown): string {
  const path = join(dir.path, "records");
  mkdirSync(path);
  if (configAnswer !== undefined) writeFileSync(join(path, "config.json"), JSON.stringify(configAnswer));
  return path;
}

function calls(records: string): DriverCall[] {
  const count = existsSync(join(records, "count")) ? Number(readFileSync(join(records, "count"), "utf8")) : 0;
  const out: DriverCall[] = [];
  for (let n = 1; n <= count; n++) {
    const at = (name: string) => join(records, String(n), name);
    const read = (name: string) => readFileSync(at(name), "utf8");
    const nul = (text: string) => (text === "" ? [] : text.replace(/\0$/, "").split("\0"));
    const env = new Map<string, string>();
    for (const entry of nul(read("env"))) {
      const eq = entry.indexOf("=");
      env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    out.push({
      stage: read("stage").trim(),
      args: nul(read("args")),
      env,
      cwd: read("cwd").trim(),
      responseMode: read("response-mode").trim(),
      response: JSON.parse(read("response.json")),
      scriptMode: existsSync(at("script-mode")) ? read("script-mode").trim() : undefined,
    });
  }
  return out;
}

/** "config", "prepare", "run <stage>", "cleanup": the order of the calls. */
function sequence(list: DriverCall[]): string[] {
  return list.map((c) => (c.stage === "run" ? `run ${c.args.at(-1)}` : c.stage));
}

function envFor(dir: TempDir, records: string, extra: Record<string, string> = {}) {
  return cleanEnv(dir.path, { DRIVER_RECORD_DIR: records, ...extra });
}

describe("the driver calls", () => {
  test("a plain job: the arguments of every call, in order; the temp dir, response.json and scripts", async () => {
    using dir = tempDir();
    const records = recordDir(dir, { driver: { name: "recorder", version: "v1.2.3" } });
    const config = customConfig(dir, {
      config_args: ["config", "with space"],
      prepare_args: ["prepare", "--flag"],
      run_args: ["run", "first"],
      cleanup_args: ["cleanup", "last"],
    });
    const job = dir.file("job.json", jobJson({ script: ["echo hello from the job"] }));
    const result = await drover(["--log-level", "debug", "exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records),
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("Using Custom executor with driver recorder v1.2.3...");
    expect(result.stdout).toContain("hello from the job");
    // config_exec's stderr and prepare_exec's stdout and stderr are in the job log...
    expect(result.stdout).toContain("config: stderr goes to the job log");
    expect(result.stdout).toContain("prepare: stdout");
    expect(result.stdout).toContain("prepare: stderr");
    // ...cleanup_exec's are in drover's log only (debug and warn).
    expect(result.stdout).not.toContain("cleanup: std");
    expect(result.stderr).toContain('"output":"cleanup: stdout"');
    expect(result.stderr).toContain('"output":"cleanup: stderr"');

    const list = calls(records);
    const tmp = list[0]!.cwd;
    const script = (stage: string) => list.find((c) => c.args.at(-1) === stage)!.args[1]!;
    expect(list.map((c) => [c.stage, ...c.args])).toEqual([
      ["config", "with space"],
      ["prepare", "--flag"],
      ["run", "first", script("prepare_script"), "prepare_script"],
      ["run", "first", script("get_sources"), "get_sources"],
      ["run", "first", script("build_script"), "build_script"],
      ["run", "first", script("cleanup_file_variables"), "cleanup_file_variables"],
      ["cleanup", "last"],
    ]);
    // One private temp dir per job: every call's working dir; scripts 0700 inside it, one per call.
    expect(basename(tmp)).toStartWith("custom-executor");
    for (const call of list) expect(call.cwd).toBe(tmp);
    const scripts = list.filter((c) => c.stage === "run").map((c) => c.args[1]!);
    expect(new Set(scripts).size).toBe(4);
    for (const path of scripts) expect(dirname(dirname(path))).toBe(tmp);
    for (const call of list.filter((c) => c.stage === "run")) expect(call.scriptMode).toBe("700");
    // response.json: the job, 0600, in every call; gone with the temp dir after the job.
    for (const call of list) {
      expect(call.responseMode).toBe("600");
      expect(call.response.id).toBe(1001);
    }
    expect(existsSync(tmp)).toBe(false);
  });

  test("the environment of every call", async () => {
    using dir = tempDir();
    const driverBuilds = join(dir.path, "driver-builds");
    const records = recordDir(dir, {
      builds_dir: driverBuilds,
      builds_dir_is_shared: true,
      job_env: { FROM_JOB_ENV: "job env value", CUSTOM_ENV_CI_JOB_NAME: "job_env comes first" },
    });
    const config = customConfig(dir, {}, { environment: ["FROM_RUNNER=runner value"] });
    const services = [
      { name: "redis:latest" },
      {
        name: "postgres:$PG_VERSION",
        alias: "pg,db",
        entrypoint: ["path", "to", "entrypoint"],
        command: ["path", "to", "cmd"],
      },
    ];
    const job = dir.file(
      "job.json",
      jobJson({
        image: { name: "alpine:$MY_VAR" },
        services,
        variables: [
          { key: "GIT_STRATEGY", value: "none" },
          { key: "CI_PROJECT_PATH", value: "group/proj" },
          { key: "MY_VAR", value: "my value" },
          { key: "PG_VERSION", value: "16" },
          { key: "SECRET", value: "s3cr3t-value", masked: true },
          { key: "A_FILE", value: "file contents\n", file: true },
          { key: "EXPANDED", value: "x-$MY_VAR" },
          { key: "RAW", value: "x-$MY_VAR", raw: true },
        ],
      }),
    );
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records, { HOST_VAR: "from the host" }),
    });
    expect(result.exitCode).toBe(0);
    const list = calls(records);
    expect(sequence(list)).toEqual([
      "config",
      "prepare",
      "run prepare_script",
      "run get_sources",
      "run build_script",
      "run cleanup_file_variables",
      "cleanup",
    ]);
    for (const call of list) {
      const env = Object.fromEntries(call.env);
      expect(env).toMatchObject({
        // the host's environment
        HOST_VAR: "from the host",
        DRIVER_RECORD_DIR: records,
        // the contract's fixed variables
        TMPDIR: call.cwd,
        BUILD_FAILURE_EXIT_CODE: "1",
        SYSTEM_FAILURE_EXIT_CODE: "2",
        BUILD_EXIT_CODE_FILE: join(call.cwd, "build_exit_code"),
        JOB_RESPONSE_FILE: join(call.cwd, "response.json"),
        // every job variable, predefined ones included, prefixed; expanded unless raw; masked ones in
        // clear; file variables as their contents
        CUSTOM_ENV_CI_JOB_ID: "1001",
        CUSTOM_ENV_CI_JOB_NAME: "test-job",
        CUSTOM_ENV_MY_VAR: "my value",
        CUSTOM_ENV_SECRET: "s3cr3t-value",
        CUSTOM_ENV_A_FILE: "file contents\n",
        CUSTOM_ENV_EXPANDED: "x-my value",
        CUSTOM_ENV_RAW: "x-$MY_VAR",
        CUSTOM_ENV_FROM_RUNNER: "runner value",
        CUSTOM_ENV_CI_JOB_IMAGE: "alpine:my value",
      });
      expect(JSON.parse(env.CUSTOM_ENV_CI_JOB_SERVICES!)).toEqual([
        { name: "redis:latest", alias: "", entrypoint: null, command: null },
        {
          name: "postgres:16",
          alias: "pg",
          entrypoint: ["path", "to", "entrypoint"],
          command: ["path", "to", "cmd"],
        },
      ]);
      // job_env: unprefixed, from the call after config_exec on; never as CUSTOM_ENV_*.
      expect(env.FROM_JOB_ENV).toBe(call.stage === "config" ? undefined : "job env value");
      expect(env.CUSTOM_ENV_FROM_JOB_ENV).toBeUndefined();
    }
    // Nor does job_env go into the job's scripts (GitLab: not available to the job itself).
    for (const n of list.keys()) {
      if (list[n]!.stage !== "run") continue;
      expect(readFileSync(join(records, String(n + 1), "script"), "utf8")).not.toContain("job env value");
    }
    // A shared builds dir from config_exec: <builds_dir>/<runner short token>/<concurrent project id>/<project>.
    const run = list.find((c) => c.stage === "run")!;
    expect(run.env.get("CUSTOM_ENV_CI_BUILDS_DIR")).toBe(driverBuilds);
    expect(run.env.get("CUSTOM_ENV_CI_PROJECT_DIR")).toBe(join(driverBuilds, "local", "0", "group", "proj"));
    // The masked value stays out of the job log even though the drivers see it in clear.
    expect(result.stdout).not.toContain("s3cr3t-value");
  });

  test("a job without image or services: CUSTOM_ENV_CI_JOB_SERVICES is empty (GitLab's value), no CUSTOM_ENV_CI_JOB_IMAGE", async () => {
    using dir = tempDir();
    const records = recordDir(dir);
    const config = customConfig(dir);
    const job = dir.file("job.json", jobJson());
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records),
    });
    expect(result.exitCode).toBe(0);
    for (const call of calls(records)) {
      expect(call.env.get("CUSTOM_ENV_CI_JOB_SERVICES")).toBe("");
      expect(call.env.has("CUSTOM_ENV_CI_JOB_IMAGE")).toBe(false);
    }
  });

  test("a job with after_script and a cache: the stage names and their order", async () => {
    using dir = tempDir();
    const records = recordDir(dir);
    const config = customConfig(dir, {}, { cache_dir: join(dir.path, "cache") });
    const job = dir.file(
      "job.json",
      jobJson({
        steps: [
          {
            name: "script",
            script: ["mkdir -p out", "echo built > out/file"],
            timeout: 3600,
            when: "on_success",
          },
          { name: "after_script", script: ["echo after"], timeout: 3600, when: "always" },
        ],
        cache: [{ key: "k", paths: ["out"], policy: "pull-push", when: "on_success" }],
      }),
    );
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records),
    });
    expect(result.exitCode).toBe(0);
    expect(sequence(calls(records))).toEqual([
      "config",
      "prepare",
      "run prepare_script",
      "run get_sources",
      "run restore_cache",
      "run build_script",
      "run after_script",
      "run archive_cache",
      "run cleanup_file_variables",
      "cleanup",
    ]);
  });

  test("config_exec is optional; then the builds_dir must come from config.toml", async () => {
    using dir = tempDir();
    const records = recordDir(dir);
    const config = customConfig(dir, { config_exec: "" }, { builds_dir: "" });
    const job = dir.file("job.json", jobJson());
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records),
    });
    expect(result.stdout).toContain("the builds_dir is not configured");
    expect(result.stdout).toContain("runner_configuration_error");
    expect(result.exitCode).toBe(78);
    // Not retried; cleanup still ran.
    expect(sequence(calls(records))).toEqual(["cleanup"]);
  });

  test("get_sources retried: clear_worktree runs before the second attempt only", async () => {
    using dir = tempDir();
    const records = recordDir(dir);
    const config = customConfig(dir);
    const job = dir.file(
      "job.json",
      jobJson({
        git_info: {
          repo_url: join(dir.path, "no-such-repo"),
          ref: "main",
          sha: "0123456789012345678901234567890123456789",
          before_sha: "0000000000000000000000000000000000000000",
          ref_type: "branch",
          refspecs: [],
          depth: 0,
        },
        variables: [
          { key: "GIT_STRATEGY", value: "clone" },
          { key: "GET_SOURCES_ATTEMPTS", value: "3" },
          { key: "CI_PROJECT_PATH", value: "group/proj" },
        ],
      }),
    );
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records),
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain("Deleting tracked and untracked files...");
    expect(sequence(calls(records))).toEqual([
      "config",
      "prepare",
      "run prepare_script",
      "run get_sources",
      "run clear_worktree",
      "run get_sources",
      "run get_sources",
      "run cleanup_file_variables",
      "cleanup",
    ]);
  });
});

describe("exit codes", () => {
  const cases: Array<{ name: string; driver: string; fileContent?: string; exit: number; log: string }> = [
    {
      name: "exit 1: script failure, exit code 1",
      driver: "build-failure.sh",
      exit: 1,
      log: "exit code 1 (script_failure",
    },
    {
      name: 'exit 1 with BUILD_EXIT_CODE_FILE "42": exit code 42',
      driver: "build-failure.sh",
      fileContent: "42",
      exit: 1,
      log: "exit code 42 (script_failure",
    },
    {
      name: 'exit 1 with BUILD_EXIT_CODE_FILE "42\\n\\nmore": exit code 42',
      driver: "build-failure.sh",
      fileContent: "42\\n\\nmore",
      exit: 1,
      log: "exit code 42 (script_failure",
    },
    {
      name: 'exit 1 with BUILD_EXIT_CODE_FILE "invalid": system failure',
      driver: "build-failure.sh",
      fileContent: "invalid",
      exit: 2,
      log: 'BUILD_EXIT_CODE_FILE holds "invalid": expected an integer exit code on its first line',
    },
    { name: "exit 2: system failure", driver: "system-failure.sh", exit: 2, log: "exit status 2" },
    {
      name: "exit 255: unknown exit code, system failure",
      driver: "unknown-exit.sh",
      exit: 2,
      log: "unknown Custom executor executable exit code 255",
    },
    {
      name: "a driver that cannot start: system failure",
      driver: "not-executable.sh",
      exit: 2,
      log: "could not start run_exec",
    },
  ];
  test.each(cases)("$name", async ({ driver, fileContent, exit, log }) => {
    using dir = tempDir();
    const records = recordDir(dir);
    const config = customConfig(dir, { run_exec: join(DRIVERS, driver), run_args: [] });
    const variables = [
      { key: "GIT_STRATEGY", value: "none" },
      ...(fileContent === undefined ? [] : [{ key: "EXIT_CODE_FILE_CONTENT", value: fileContent }]),
    ];
    const job = dir.file("job.json", jobJson({ variables, script: ["echo never"] }));
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records),
    });
    expect(result.stdout).toContain(log);
    expect(result.stdout).toContain("ERROR: Job failed");
    expect(result.exitCode).toBe(exit);
    // Whatever happened, cleanup ran.
    expect(sequence(calls(records)).at(-1)).toBe("cleanup");
  });

  test("invalid config JSON: the whole prepare is tried exactly three times, cleanup after each", async () => {
    using dir = tempDir();
    const records = recordDir(dir);
    const config = customConfig(dir, { config_exec: join(DRIVERS, "invalid-config.sh"), config_args: [] });
    const job = dir.file("job.json", jobJson());
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records),
    });
    expect(result.exitCode).toBe(2);
    expect(result.stdout.match(/ERROR: Preparation failed: error while parsing JSON output: /g)?.length).toBe(
      3,
    );
    expect(result.stdout).toContain("invalid-config: about to print garbage");
    expect(result.stdout).toContain("runner_system_failure");
    expect(sequence(calls(records))).toEqual(["config", "cleanup", "config", "cleanup", "config", "cleanup"]);
    // A fresh temp dir for each attempt, each one gone.
    const dirs = calls(records)
      .filter((c) => c.stage === "config")
      .map((c) => c.cwd);
    expect(new Set(dirs).size).toBe(3);
    for (const tmp of dirs) expect(existsSync(tmp)).toBe(false);
  }, 30_000);

  test("cleanup failing does not change a successful job", async () => {
    using dir = tempDir();
    const records = recordDir(dir);
    const config = customConfig(dir, { cleanup_exec: join(DRIVERS, "failing-cleanup.sh"), cleanup_args: [] });
    const job = dir.file("job.json", jobJson());
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records),
    });
    expect(result.stdout).toContain("WARNING: Cleanup script failed: exit status 1");
    expect(result.stdout).toContain("Job succeeded");
    expect(result.exitCode).toBe(0);
    // Its stderr is in drover's log (warn), not in the job log.
    expect(result.stderr).toContain("failing-cleanup: could not delete the VM");
    expect(result.stdout).not.toContain("could not delete the VM");
  });
});

describe("output, timeouts and cancel", () => {
  test("driver output reaches the job log while the driver is still running", async () => {
    using dir = tempDir();
    const mark = marker();
    const records = recordDir(dir);
    const config = customConfig(dir, { run_exec: join(DRIVERS, "live-output.sh"), run_args: [] });
    const job = dir.file("job.json", jobJson());
    await using run = startDrover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records, { [mark.name]: mark.value }),
    });
    await run.waitForStdout("live-output: first line");
    expect(run.stdout()).not.toContain("live-output: second line");
    writeFileSync(join(records, "go"), "");
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toContain("live-output: second line");
    await expectNoLeftovers(mark.entry);
  });

  test("a stage timeout kills a driver that ignores SIGTERM, and its background children", async () => {
    using dir = tempDir();
    const mark = marker();
    const records = recordDir(dir);
    const config = customConfig(dir, {
      run_exec: join(DRIVERS, "ignores-sigterm.sh"),
      run_args: [],
      graceful_kill_timeout: 1,
      force_kill_timeout: 1,
    });
    const job = dir.file(
      "job.json",
      jobJson({
        variables: [
          { key: "GIT_STRATEGY", value: "none" },
          { key: "RUNNER_SCRIPT_TIMEOUT", value: "1s" },
        ],
      }),
    );
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records, { [mark.name]: mark.value }),
    });
    expect(result.stdout).toContain("ignores-sigterm: started");
    expect(result.stdout).toContain("job_execution_timeout");
    expect(result.exitCode).toBe(3);
    // It got SIGTERM, ignored it, and is gone all the same (SIGKILL to its process group).
    const log = readFileSync(join(records, "ignores-sigterm"), "utf8");
    expect(log).toMatch(/^started \d+ \d+ \d+ \n/);
    expect(log).toContain("TERM");
    // cleanup ran after it.
    expect(sequence(calls(records)).at(-1)).toBe("cleanup");
    await expectNoLeftovers(mark.entry);
  }, 30_000);

  test("cleanup_exec_timeout stops a cleanup that ignores SIGTERM; the job still succeeds", async () => {
    using dir = tempDir();
    const mark = marker();
    const records = recordDir(dir);
    const config = customConfig(dir, {
      cleanup_exec: join(DRIVERS, "ignores-sigterm.sh"),
      cleanup_args: [],
      cleanup_exec_timeout: 1,
      graceful_kill_timeout: 1,
      force_kill_timeout: 1,
    });
    const job = dir.file("job.json", jobJson());
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records, { [mark.name]: mark.value }),
    });
    expect(result.stdout).toContain(
      "WARNING: Cleanup script failed: cleanup_exec did not finish within 1s (cleanup_exec_timeout): it was stopped",
    );
    expect(result.stdout).toContain("Job succeeded");
    expect(result.exitCode).toBe(0);
    expect(readFileSync(join(records, "ignores-sigterm"), "utf8")).toContain("TERM");
    await expectNoLeftovers(mark.entry);
  }, 30_000);

  test("Ctrl-C during run_exec: the driver is stopped, after_script and cleanup still run, exit 3", async () => {
    using dir = tempDir();
    const mark = marker();
    const records = recordDir(dir);
    const config = customConfig(dir);
    const job = dir.file(
      "job.json",
      jobJson({
        steps: [
          { name: "script", script: ["echo started", "sleep 300"], timeout: 3600, when: "on_success" },
          {
            name: "after_script",
            script: ['echo "after_script: $CI_JOB_STATUS"'],
            timeout: 3600,
            when: "always",
          },
        ],
      }),
    );
    await using run = startDrover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records, { [mark.name]: mark.value }),
    });
    await run.waitForStdout("started");
    run.kill("SIGINT");
    const exitCode = await run.exited;
    expect(run.stdout()).toContain("after_script: canceled");
    expect(run.stdout()).toContain("Job canceled");
    expect(exitCode).toBe(3);
    expect(sequence(calls(records)).slice(-3)).toEqual([
      "run after_script",
      "run cleanup_file_variables",
      "cleanup",
    ]);
    await expectNoLeftovers(mark.entry);
  });
});

describe("examples/custom-driver", () => {
  test("a job through the example driver prints what the same job prints through the shell executor", async () => {
    using dir = tempDir();
    const mark = marker();
    const base = join(dir.path, "driver-base");
    const customToml = customRunnerConfig(
      dir,
      {
        config_exec: join(EXAMPLE, "config.sh"),
        prepare_exec: join(EXAMPLE, "prepare.sh"),
        run_exec: join(EXAMPLE, "run.sh"),
        cleanup_exec: join(EXAMPLE, "cleanup.sh"),
      },
      { name: "example" },
    );
    const shellToml = shellRunnerConfig(dir);
    const job = dir.file(
      "job.json",
      jobJson({
        steps: [
          {
            name: "script",
            script: [
              'echo "job $CI_JOB_ID of $CI_PROJECT_PATH"',
              "printf 'multi\\nline\\n'",
              "mkdir -p out && echo content > out/f && cat out/f",
            ],
            timeout: 3600,
            when: "on_success",
          },
          { name: "after_script", script: ['echo "after: $CI_JOB_STATUS"'], timeout: 3600, when: "always" },
        ],
      }),
    );
    const env = cleanEnv(dir.path, { DRIVER_BASE_DIR: base, [mark.name]: mark.value });
    const viaCustom = await drover(["exec", "--config", customToml, job], { cwd: dir.path, env });
    const viaShell = await drover(["exec", "--config", shellToml, job], { cwd: dir.path, env });
    expect(viaCustom.exitCode).toBe(0);
    expect(viaShell.exitCode).toBe(0);
    expect(viaCustom.stdout).toContain("Using Custom executor with driver drover-example 1.0.0...");
    // (No stderr in this job: stdout and stderr reach drover through two pipes, so where a stderr
    // line lands among stdout lines is not fixed, with either executor.)
    const scriptOutput = (log: string, from: string, to: RegExp) => {
      const start = log.indexOf(from);
      const rest = log.slice(start);
      return rest.slice(0, rest.search(to));
    };
    for (const [from, to] of [
      ['Executing "step_script" stage of the job script', /✓ build_script/],
      ["Running after_script", /✓ after_script/],
    ] as const) {
      const custom = scriptOutput(viaCustom.stdout, from, to);
      expect(custom).toContain("$ ");
      expect(custom).toBe(scriptOutput(viaShell.stdout, from, to));
    }
    expect(viaCustom.stdout).toContain("job 1001 of group/proj");
    // The job's directory is gone (cleanup is idempotent and removes only its own job dir).
    expect(readdirSync(base)).toEqual(["cache"]);
    await expectNoLeftovers(mark.entry);
  });
});

describe("drover config check", () => {
  test("a GitLab Runner custom executor section checks clean", async () => {
    using dir = tempDir();
    const config = customConfig(
      dir,
      {
        config_exec_timeout: 200,
        prepare_exec_timeout: 200,
        cleanup_exec_timeout: 200,
        graceful_kill_timeout: 200,
        force_kill_timeout: 200,
      },
      { cache_dir: "/cache", shell: "bash" },
    );
    const result = await drover(["config", "check", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.stdout).toContain("OK (1 runner(s))");
    expect(result.exitCode).toBe(0);
  });
});

describe("as GitLab's custom executor (executors/custom, common/build.go)", () => {
  test("CUSTOM_ENV_* has GitLab's runner variables and every feature flag, in every call", async () => {
    using dir = tempDir();
    const records = recordDir(dir);
    const config = customConfig(dir, {}, { id: 31337 });
    const job = dir.file("job.json", jobJson());
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: envFor(dir, records),
    });
    expect(result.exitCode).toBe(0);
    const list = calls(records);
    expect(sequence(list)[0]).toBe("config");
    for (const call of list) {
      expect(call.env.get("CUSTOM_ENV_CI_RUNNER_VERSION")).toMatch(/^\d+\.\d+\.\d+/);
      expect(call.env.get("CUSTOM_ENV_CI_RUNNER_REVISION")).toMatch(/^[0-9a-f]{8}$/);
      expect(call.env.get("CUSTOM_ENV_CI_RUNNER_ID")).toBe("31337");
      expect(call.env.get("CUSTOM_ENV_CI_SHARED_ENVIRONMENT")).toBe("true");
      expect(call.env.has("CUSTOM_ENV_CI_DISPOSABLE_ENVIRONMENT")).toBe(false);
      expect(call.env.get("CUSTOM_ENV_FF_SCRIPT_SECTIONS")).toBe("false");
      expect(call.env.get("CUSTOM_ENV_FF_MASK_ALL_DEFAULT_TOKENS")).toBe("true");
      expect([...call.env.keys()].filter((k) => k.startsWith("CUSTOM_ENV_FF_")).length).toBeGreaterThan(40);
    }
  });

  test("after_script and cleanup_exec see the job's status; the steps saw running", async () => {
    using dir = tempDir();
    const records = recordDir(dir);
    const job = dir.file(
      "job.json",
      jobJson({
        steps: [
          { name: "script", script: ["exit 4"], timeout: 3600, when: "on_success", allow_failure: false },
          { name: "after_script", script: ["true"], timeout: 3600, when: "always", allow_failure: false },
        ],
      }),
    );
    const result = await drover(["exec", "--config", customConfig(dir), job], {
      cwd: dir.path,
      env: envFor(dir, records),
    });
    expect(result.exitCode).toBe(1);
    const status = new Map(calls(records).map((c) => [sequenceOf(c), c.env.get("CUSTOM_ENV_CI_JOB_STATUS")]));
    expect(status.get("run build_script")).toBe("running");
    expect(status.get("run after_script")).toBe("failed");
    expect(status.get("run cleanup_file_variables")).toBe("failed");
    expect(status.get("cleanup")).toBe("failed");
  });

  test("JOB_RESPONSE_FILE is the job as GitLab sent it, file variables' values included", async () => {
    using dir = tempDir();
    const records = recordDir(dir);
    const cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const job = dir.file(
      "job.json",
      jobJson({
        variables: [
          { key: "GIT_STRATEGY", value: "none", public: true },
          { key: "CA_CERT", value: cert, public: false, file: true },
        ],
      }),
    );
    const result = await drover(["exec", "--config", customConfig(dir), job], {
      cwd: dir.path,
      env: envFor(dir, records),
    });
    expect(result.exitCode).toBe(0);
    for (const call of calls(records)) {
      const response = call.response as unknown as { variables: Array<{ key: string; value: string }> };
      expect(response.variables.find((v) => v.key === "CA_CERT")?.value).toBe(cert);
    }
  });

  test('"Using Custom executor..." as GitLab prints it: no driver info, a name, a name and version', async () => {
    for (const [answer, line] of [
      [undefined, "Using Custom executor...\n"],
      [{ driver: { name: "lxd" } }, "Using Custom executor with driver lxd...\n"],
      [{ driver: { name: "lxd", version: "v2" } }, "Using Custom executor with driver lxd v2...\n"],
    ] as const) {
      using dir = tempDir();
      const records = recordDir(dir, answer);
      const result = await drover(["exec", "--config", customConfig(dir), dir.file("job.json", jobJson())], {
        cwd: dir.path,
        env: envFor(dir, records),
      });
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain(`\n${line}`);
    }
  });

  test("prepare_script fails: nothing more runs but the driver's cleanup (no after_script, no file variables' cleanup)", async () => {
    using dir = tempDir();
    const records = recordDir(dir);
    const failing = dir.file(
      "fail-prepare-script.sh",
      `#!/usr/bin/env bash\nif [ "\${@: -1}" = prepare_script ]; then exit 1; fi\nexec ${RECORD} run "$@"\n`,
      0o755,
    );
    const job = dir.file(
      "job.json",
      jobJson({
        steps: [
          { name: "script", script: ["echo never"], timeout: 3600, when: "on_success", allow_failure: false },
          { name: "release", script: ["echo never"], timeout: 3600, when: "always", allow_failure: false },
          {
            name: "after_script",
            script: ["echo never"],
            timeout: 3600,
            when: "always",
            allow_failure: false,
          },
        ],
      }),
    );
    const result = await drover(["exec", "--config", customConfig(dir, { run_exec: failing }), job], {
      cwd: dir.path,
      env: envFor(dir, records),
    });
    expect(result.exitCode).toBe(1);
    expect(sequence(calls(records))).toEqual(["config", "prepare", "cleanup"]);
    expect(result.stdout).not.toContain("\nnever\n");
  });
});

function sequenceOf(call: DriverCall): string {
  return sequence([call])[0]!;
}
