/**
 * The job engine's phases in order (src/job/run-job.ts and src/job/phases/), driven through an
 * executor and a lifecycle plugin built from the SDK's handler types and called in this process
 * (kernel/protocol/in-process.ts): which calls are made, in which order, how often, and how the job
 * ends. No process, no socket; the prepare retry delay is injected.
 */
import { describe, expect, test } from "bun:test";
import type { ExecutorHandlers, LifecycleHandlers } from "@drover/plugin-sdk";
import { DroverError } from "../../kernel/errors.ts";
import { Executor } from "../../kernel/gen/drover/plugin/v1/executor_pb.ts";
import { ResultKind } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import { Lifecycle } from "../../kernel/gen/drover/plugin/v1/lifecycle_pb.ts";
import { inProcessClient } from "../../kernel/protocol/in-process.ts";
import type { PluginRunner } from "../../src/config/model.ts";
import { executorIdentity } from "../../src/job/executor-identity.ts";
import { parseJob } from "../../src/job/parse.ts";
import type { JobResult } from "../../src/job/result.ts";
import { runJob } from "../../src/job/run-job.ts";
import { JobLog, memorySink } from "../../src/log/job-log.ts";
import { createLogger } from "../../src/log/logger.ts";
import { jobJson } from "../harness.ts";

type StageHandler = (
  stage: string,
  signal: AbortSignal,
) => Promise<{ kind: ResultKind; exitCode?: number; message?: string }>;

interface Recorder {
  calls: string[];
  handlers: ExecutorHandlers;
}

const ok = async () => ({ kind: ResultKind.SUCCESS });

/** An executor whose Run answers with `stage(...)`; Configure/Prepare with `configure`/`prepare`. */
function executor(
  options: {
    configure?: (attempt: number) => Promise<{ kind: ResultKind; message?: string }>;
    prepare?: (attempt: number) => Promise<{ kind: ResultKind; message?: string }>;
    stage?: StageHandler;
  } = {},
  calls: string[] = [],
): Recorder {
  let configures = 0;
  let prepares = 0;
  const handlers: ExecutorHandlers = {
    async *configure() {
      calls.push("configure");
      const status = await (options.configure ?? ok)(++configures);
      yield {
        event: {
          case: "result",
          value: { status: { exitCode: 0, message: "", ...status }, config: { buildsDir: "/builds" } },
        },
      };
    },
    async *prepare() {
      calls.push("prepare");
      const status = await (options.prepare ?? ok)(++prepares);
      yield { event: { case: "result", value: { exitCode: 0, message: "", ...status } } };
    },
    async *run(request, ctx) {
      calls.push(`run ${request.stage}`);
      yield {
        event: {
          case: "output",
          value: { stream: 1, data: new TextEncoder().encode(`[${request.stage}]\n`) },
        },
      };
      const status = await (options.stage ?? ok)(request.stage, ctx.signal);
      yield { event: { case: "result", value: { exitCode: 0, message: "", ...status } } };
    },
    async *cleanup() {
      calls.push("cleanup");
      yield { event: { case: "result", value: { kind: ResultKind.SUCCESS, exitCode: 0, message: "" } } };
    },
  };
  return { calls, handlers };
}

/** A lifecycle plugin recording its calls; `started`/`completed` decide their results. */
function hooks(
  calls: string[],
  results: { started?: ResultKind; completed?: ResultKind } = {},
): LifecycleHandlers {
  return {
    async *jobStarted() {
      calls.push("job_started");
      yield {
        event: {
          case: "result",
          value: { kind: results.started ?? ResultKind.SUCCESS, exitCode: 1, message: "" },
        },
      };
    },
    async *jobCompleted(request) {
      calls.push(`job_completed ${request.outcome?.status}`);
      yield {
        event: {
          case: "result",
          value: { kind: results.completed ?? ResultKind.SUCCESS, exitCode: 1, message: "" },
        },
      };
    },
  };
}

/** Never ends on its own: resolves when the call is cancelled (the plugin stops its stage). */
function untilCancelled(signal: AbortSignal): Promise<{ kind: ResultKind }> {
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve({ kind: ResultKind.BUILD_FAILURE }), { once: true }),
  );
}

const runner: PluginRunner = {
  name: "unit",
  executor: "plugin",
  plugin: { kind: "path", path: "/unit/executor" },
  settings: {},
  limit: 0,
  environment: [],
  featureFlags: {},
  scripts: {},
  requestConcurrency: 1,
  outputLimitBytes: 4 * 1024 * 1024,
  unhealthyRequestsLimit: 3,
  unhealthyIntervalMs: 60_000,
  finalUpdateRetryLimit: 10,
  line: 0,
};

interface Run {
  result: JobResult;
  log: string;
}

async function run(
  recorder: Recorder,
  options: {
    job?: Parameters<typeof jobJson>[0];
    lifecycle?: LifecycleHandlers;
    cancel?: AbortController;
    abort?: AbortController;
    connect?: () => Promise<never>;
    /** Sees every piece of the job log as it is written. */
    onLog?: (text: string) => void;
    /** Told when the job's containment ends (everything it left running is killed then). */
    onContainmentEnd?: () => number;
  } = {},
): Promise<Run> {
  const memory = memorySink();
  const sink: typeof memory = {
    ...memory,
    get size() {
      return memory.size;
    },
    write(bytes) {
      memory.write(bytes);
      options.onLog?.(new TextDecoder().decode(bytes));
    },
  };
  const client = inProcessClient(Executor, recorder.handlers);
  const lifecycle = options.lifecycle ? inProcessClient(Lifecycle, options.lifecycle) : undefined;
  const result = await runJob({
    job: parseJob(jobJson(options.job), "job.json"),
    jobKey: "1",
    runner,
    executor: executorIdentity(runner),
    connect: options.connect ?? (async () => client),
    log: new JobLog({ sink, color: false }),
    logger: createLogger({ level: "silent", pretty: false }),
    cancel: (options.cancel ?? new AbortController()).signal,
    abort: (options.abort ?? new AbortController()).signal,
    slots: { concurrentId: 0, concurrentProjectId: 0 },
    version: "0.0.0-test",
    lifecycle: lifecycle
      ? [
          {
            name: "hooks",
            client: async () => lifecycle,
            settingsJson: "{}",
            calls: { started: true, completed: true },
          },
        ]
      : [],
    prepareRetryDelayMs: 1,
    containment: { trackingId: "unit-job", cgroup: "", end: async () => options.onContainmentEnd?.() ?? 0 },
  });
  return { result, log: memory.text() };
}

const PLAIN = ["run prepare_script", "run get_sources", "run build_script", "run cleanup_file_variables"];
const withAfterScript = {
  steps: [
    { name: "script", script: ["make"], timeout: 3600, when: "on_success", allow_failure: false },
    { name: "after_script", script: ["echo after"], timeout: 3600, when: "always", allow_failure: false },
  ],
};

describe("the phases of a job, in order", () => {
  test("a plain job: Configure, Prepare, four stages, Cleanup; success", async () => {
    const executorCalls = executor();
    const { result } = await run(executorCalls);
    expect(executorCalls.calls).toEqual(["configure", "prepare", ...PLAIN, "cleanup"]);
    expect(result.status).toBe("success");
    expect(result.stages.map((s) => [s.name, s.outcome])).toEqual([
      ["configure", "success"],
      ["prepare", "success"],
      ["prepare_script", "success"],
      ["get_sources", "success"],
      ["build_script", "success"],
      ["cleanup_file_variables", "success"],
      ["cleanup", "success"],
    ]);
  });

  test("hooks: job_started between Configure and Prepare, job_completed after Cleanup with the result", async () => {
    const calls: string[] = [];
    const { result } = await run(executor({}, calls), { lifecycle: hooks(calls) });
    expect(result.status).toBe("success");
    expect(calls).toEqual([
      "configure",
      "job_started",
      "prepare",
      ...PLAIN,
      "cleanup",
      "job_completed success",
    ]);
  });

  test("the job's containment ends last, after the job_completed hooks; what it killed is in the job log", async () => {
    const calls: string[] = [];
    const { log } = await run(executor({}, calls), {
      lifecycle: hooks(calls),
      onContainmentEnd: () => {
        calls.push("containment end");
        return 2;
      },
    });
    expect(calls.slice(-3)).toEqual(["cleanup", "job_completed success", "containment end"]);
    expect(log).toContain("WARNING: killed 2 process(es) the job left running\n");
  });
});

describe("prepare is retried as GitLab retries it", () => {
  test("a system failure is retried with a Cleanup after each failed attempt; the third attempt succeeds", async () => {
    const recorder = executor({
      configure: async (attempt) =>
        attempt < 3
          ? { kind: ResultKind.SYSTEM_FAILURE, message: `no VM (${attempt})` }
          : { kind: ResultKind.SUCCESS },
    });
    const { result, log } = await run(recorder);
    expect(recorder.calls).toEqual([
      "configure",
      "cleanup",
      "configure",
      "cleanup",
      "configure",
      "prepare",
      ...PLAIN,
      "cleanup",
    ]);
    expect(result.status).toBe("success");
    expect(log).toContain("ERROR: Preparation failed: no VM (1)\nWill be retried in 0.001s ...\n");
  });

  test("three system failures: runner_system_failure; the job_started hooks ran once", async () => {
    const calls: string[] = [];
    const recorder = executor({
      prepare: async () => ({ kind: ResultKind.SYSTEM_FAILURE, message: "broken" }),
    });
    const { result } = await run(recorder, { lifecycle: hooks(calls) });
    expect(recorder.calls.filter((c) => c === "prepare")).toHaveLength(3);
    expect(recorder.calls.filter((c) => c === "cleanup")).toHaveLength(3);
    expect(recorder.calls.some((c) => c.startsWith("run "))).toBe(false);
    expect(calls).toEqual(["job_started", "job_completed failed"]);
    expect(result).toMatchObject({ status: "failed", reason: "runner_system_failure", message: "broken" });
  });

  test("a configuration error is not retried", async () => {
    const recorder = executor({
      configure: async () => ({ kind: ResultKind.CONFIGURATION_ERROR, message: "no table" }),
    });
    const { result } = await run(recorder);
    expect(recorder.calls).toEqual(["configure", "cleanup"]);
    expect(result).toMatchObject({
      status: "failed",
      reason: "runner_configuration_error",
      message: "no table",
    });
  });

  test("a plugin that cannot be started: no Configure, no Cleanup; a configuration error stays one", async () => {
    const recorder = executor();
    const failed = await run(recorder, {
      connect: async () => {
        throw new DroverError("config_invalid", 'plugin "x" is not installed');
      },
    });
    expect(recorder.calls).toEqual([]);
    expect(failed.result).toMatchObject({ status: "failed", reason: "runner_configuration_error" });
    const crashed = await run(recorder, {
      connect: async () => {
        throw new DroverError("plugin_launch", "exited before the handshake");
      },
    });
    expect(crashed.result).toMatchObject({ status: "failed", reason: "runner_system_failure" });
  });
});

describe("the stages after a failure or a stop", () => {
  test("a failing script: after_script and cleanup_file_variables still run; script_failure with its exit code", async () => {
    const recorder = executor({
      stage: async (stage) =>
        stage === "build_script"
          ? { kind: ResultKind.BUILD_FAILURE, exitCode: 3 }
          : { kind: ResultKind.SUCCESS },
    });
    const { result } = await run(recorder, { job: withAfterScript });
    expect(recorder.calls).toEqual([
      "configure",
      "prepare",
      "run prepare_script",
      "run get_sources",
      "run build_script",
      "run after_script",
      "run cleanup_file_variables",
      "cleanup",
    ]);
    expect(result).toMatchObject({ status: "failed", reason: "script_failure", exitCode: 3 });
  });

  test("a cancel during a stage: the stage is stopped, after_script and cleanup run; canceled", async () => {
    const cancel = new AbortController();
    const recorder = executor({
      stage: async (stage, signal) => {
        if (stage !== "build_script") return { kind: ResultKind.SUCCESS };
        cancel.abort("canceled");
        return untilCancelled(signal);
      },
    });
    const { result } = await run(recorder, { job: withAfterScript, cancel });
    expect(recorder.calls.slice(4)).toEqual([
      "run build_script",
      "run after_script",
      "run cleanup_file_variables",
      "cleanup",
    ]);
    expect(result.status).toBe("canceled");
  });

  test("a cancel between two stages: later stages do not run, and the job is canceled (not a success)", async () => {
    const cancel = new AbortController();
    const recorder = executor();
    // The build_script call has ended well (its section is closed); the next has not started.
    const onLog = (text: string) => {
      if (text.includes("✓ build_script")) cancel.abort("canceled");
    };
    const { result } = await run(recorder, { job: withAfterScript, cancel, onLog });
    expect(recorder.calls.slice(4)).toEqual([
      "run build_script",
      "run after_script",
      "run cleanup_file_variables",
      "cleanup",
    ]);
    expect(result.stages.find((s) => s.name === "build_script")?.outcome).toBe("success");
    expect(result.status).toBe("canceled");
  });

  test("drover's shutdown during a stage: runner_interrupted", async () => {
    const cancel = new AbortController();
    const recorder = executor({
      stage: async (stage, signal) => {
        if (stage !== "build_script") return { kind: ResultKind.SUCCESS };
        cancel.abort("interrupted");
        return untilCancelled(signal);
      },
    });
    const { result } = await run(recorder, { cancel });
    expect(result).toMatchObject({ status: "failed", reason: "runner_interrupted" });
  });

  test("a step's own timeout: job_execution_timeout naming the stage; cleanup_file_variables still runs", async () => {
    const recorder = executor({
      stage: async (stage, signal) =>
        stage === "build_script" ? untilCancelled(signal) : { kind: ResultKind.SUCCESS },
    });
    const { result } = await run(recorder, {
      job: {
        steps: [
          { name: "script", script: ["sleep 9"], timeout: 0.05, when: "on_success", allow_failure: false },
        ],
      },
    });
    expect(recorder.calls.slice(4)).toEqual(["run build_script", "run cleanup_file_variables", "cleanup"]);
    expect(result).toMatchObject({
      status: "failed",
      reason: "job_execution_timeout",
      message: "build_script timed out after 0.05s",
    });
  });

  test("the job's timeout: job_execution_timeout for the whole job", async () => {
    const recorder = executor({
      stage: async (stage, signal) =>
        stage === "build_script" ? untilCancelled(signal) : { kind: ResultKind.SUCCESS },
    });
    const { result } = await run(recorder, { job: { runner_info: { timeout: 0.05 } } });
    expect(result).toMatchObject({
      status: "failed",
      reason: "job_execution_timeout",
      message: "execution took longer than 0.05s",
    });
    expect(recorder.calls.at(-1)).toBe("cleanup");
  });

  test("a failing job_started hook: no Prepare, no stage; Cleanup and job_completed still run", async () => {
    const calls: string[] = [];
    const recorder = executor();
    const { result } = await run(recorder, {
      lifecycle: hooks(calls, { started: ResultKind.SYSTEM_FAILURE }),
    });
    expect(recorder.calls).toEqual(["configure", "cleanup"]);
    expect(calls).toEqual(["job_started", "job_completed failed"]);
    expect(result).toMatchObject({ status: "failed", reason: "runner_system_failure" });
    expect(result.status === "failed" && result.message.startsWith("job_started hook failed: ")).toBe(true);
  });

  test("a failing job_completed hook fails a job that had succeeded", async () => {
    const { result } = await run(executor(), {
      lifecycle: hooks([], { completed: ResultKind.SYSTEM_FAILURE }),
    });
    expect(result).toMatchObject({ status: "failed", reason: "runner_system_failure" });
    expect(result.status === "failed" && result.message.startsWith("job_completed hook failed: ")).toBe(true);
  });

  test("the hard abort: nothing more runs after the stage it cut, but Cleanup is still asked for", async () => {
    const cancel = new AbortController();
    const abort = new AbortController();
    const recorder = executor({
      stage: async (stage, signal) => {
        if (stage !== "build_script") return { kind: ResultKind.SUCCESS };
        cancel.abort("canceled");
        abort.abort("canceled");
        return untilCancelled(signal);
      },
    });
    const { result } = await run(recorder, { job: withAfterScript, cancel, abort });
    expect(recorder.calls.slice(4)).toEqual(["run build_script", "cleanup"]);
    expect(result.status).toBe("canceled");
  });
});
