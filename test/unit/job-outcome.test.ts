/**
 * The outcome table (src/job/outcome.ts): every phase against every way a call can end, with and
 * without a stop; the first failure as the job's story; which stages run after a failure or a stop.
 */
import { describe, expect, test } from "bun:test";
import type { PlannedStage, StageGroup } from "../../src/job/model.ts";
import {
  type JobStatus,
  jobResult,
  judge,
  NOT_FAILED,
  type Phase,
  type StageOutcome,
  type StageRun,
  type StopReason,
  settledJobStatus,
  shouldRun,
  statusAfter,
} from "../../src/job/outcome.ts";
import { parseJob } from "../../src/job/parse.ts";
import { planStages } from "../../src/job/plan.ts";

function stage(overrides: Partial<PlannedStage> = {}): PlannedStage {
  return {
    name: "build_script",
    group: "steps",
    when: "on_success",
    runsOnCancel: false,
    affectsStatus: true,
    attempts: 1,
    timeoutSeconds: 60,
    allowFailure: false,
    ...overrides,
  };
}

function ended(outcome: StageOutcome, exitCode?: number, message = `it ended ${outcome}`): StageRun {
  return { outcome, exitCode, message };
}

const fail = (reason: string, message: string, exitCode?: number) => ({
  kind: "fail",
  reason,
  exitCode,
  message,
});

describe("judge: a call's ending, by phase", () => {
  test.each<[string, Phase, StageRun, unknown]>([
    [
      "connect: a plugin that cannot start",
      { kind: "connect", configurationError: false },
      ended("system_failure"),
      fail("runner_system_failure", "it ended system_failure"),
    ],
    [
      "connect: a plugin the config names wrongly",
      { kind: "connect", configurationError: true },
      ended("system_failure"),
      fail("runner_configuration_error", "it ended system_failure"),
    ],
    [
      "prepare: a system failure with attempts left",
      { kind: "prepare", lastAttempt: false },
      ended("system_failure"),
      { kind: "retry", message: "it ended system_failure" },
    ],
    [
      "prepare: a system failure on the last attempt",
      { kind: "prepare", lastAttempt: true },
      ended("system_failure"),
      fail("runner_system_failure", "it ended system_failure"),
    ],
    [
      "prepare: a configuration error is never retried",
      { kind: "prepare", lastAttempt: false },
      ended("configuration_error"),
      fail("runner_configuration_error", "it ended configuration_error"),
    ],
    [
      "prepare: a build failure is never retried",
      { kind: "prepare", lastAttempt: false },
      ended("build_failure", 3),
      fail("script_failure", "it ended build_failure", 3),
    ],
    [
      "job_started hooks",
      { kind: "started_hooks" },
      ended("system_failure", 1, "exit 1"),
      fail("runner_system_failure", "job_started hook failed: exit 1"),
    ],
    [
      "job_completed hooks",
      { kind: "completed_hooks" },
      ended("system_failure", 1, "exit 1"),
      fail("runner_system_failure", "job_completed hook failed: exit 1"),
    ],
    [
      "a script's non-zero exit",
      { kind: "stage", stage: stage() },
      ended("build_failure", 42),
      fail("script_failure", "it ended build_failure", 42),
    ],
    [
      "a stage's own timeout",
      { kind: "stage", stage: stage() },
      ended("timed_out"),
      fail("job_execution_timeout", "build_script timed out after 60s"),
    ],
    [
      "an executor's configuration error in a stage",
      { kind: "stage", stage: stage() },
      ended("configuration_error"),
      fail("runner_configuration_error", "it ended configuration_error"),
    ],
    [
      "an executor's system failure in a stage",
      { kind: "stage", stage: stage() },
      ended("system_failure"),
      fail("runner_system_failure", "it ended system_failure"),
    ],
    [
      "a step allowed to fail",
      { kind: "stage", stage: stage({ allowFailure: true }) },
      ended("build_failure", 1),
      { kind: "warn", message: "WARNING: build_script failed (allowed to fail): it ended build_failure" },
    ],
    [
      "a step allowed to fail does not hide a system failure",
      { kind: "stage", stage: stage({ allowFailure: true }) },
      ended("system_failure"),
      fail("runner_system_failure", "it ended system_failure"),
    ],
    [
      "after_script never fails the job",
      { kind: "stage", stage: stage({ name: "after_script", affectsStatus: false }) },
      ended("build_failure", 2),
      { kind: "warn", message: "WARNING: after_script failed: it ended build_failure" },
    ],
  ])("%s", (_, phase, run, verdict) => {
    expect(judge(phase, run, undefined)).toEqual(verdict as never);
  });

  test("success and skipped change nothing, in every phase", () => {
    for (const phase of phases()) {
      expect(judge(phase, ended("success"), undefined)).toEqual({ kind: "continue" });
      expect(judge(phase, ended("skipped"), "canceled")).toEqual({ kind: "continue" });
    }
  });

  test("a call cut short by the job's stop is the stop, whatever the phase", () => {
    for (const phase of phases()) {
      for (const stop of ["canceled", "interrupted", "timeout"] as const) {
        expect(judge(phase, ended("canceled"), stop)).toEqual({ kind: "stop", reason: stop });
        expect(judge(phase, ended("timed_out"), stop)).toEqual({ kind: "stop", reason: stop });
      }
    }
  });
});

describe("statusAfter: the first failure is the job's story", () => {
  const timeout = 3600;
  const failed = (
    reason: string,
    message: string,
    phase: Phase["kind"],
    exitCode?: number,
    group?: StageGroup,
  ): JobStatus => ({ status: "failed", reason, message, phase, exitCode, group }) as JobStatus;

  test("a failure is recorded with where it happened", () => {
    expect(
      statusAfter(NOT_FAILED, fail("script_failure", "exit 3", 3) as never, "stage", timeout, "steps"),
    ).toEqual(failed("script_failure", "exit 3", "stage", 3, "steps"));
  });

  test.each<[StopReason, JobStatus]>([
    ["canceled", { status: "canceled", group: "sources" }],
    [
      "interrupted",
      failed("runner_interrupted", "the runner was interrupted", "stage", undefined, "sources"),
    ],
    [
      "timeout",
      failed("job_execution_timeout", "execution took longer than 3600s", "stage", undefined, "sources"),
    ],
  ])("a stop for %s", (reason, status) => {
    expect(statusAfter(NOT_FAILED, { kind: "stop", reason }, "stage", timeout, "sources")).toEqual(status);
  });

  test("a failed job stays failed: not canceled, not failed again", () => {
    const first = failed("script_failure", "exit 3", "stage", 3);
    expect(statusAfter(first, { kind: "stop", reason: "canceled" }, "stage", timeout)).toBe(first);
    expect(statusAfter(first, fail("runner_system_failure", "x") as never, "completed_hooks", timeout)).toBe(
      first,
    );
  });

  test("a canceled job stays canceled", () => {
    const canceled: JobStatus = { status: "canceled", group: "steps" };
    expect(
      statusAfter(canceled, fail("runner_system_failure", "x") as never, "completed_hooks", timeout),
    ).toBe(canceled);
  });

  test("warnings and retries change nothing", () => {
    expect(statusAfter(NOT_FAILED, { kind: "warn", message: "w" }, "stage", timeout)).toBe(NOT_FAILED);
    expect(statusAfter(NOT_FAILED, { kind: "retry", message: "r" }, "prepare", timeout)).toBe(NOT_FAILED);
  });
});

describe("shouldRun: GitLab's sequence after a failure or a stop", () => {
  const failedIn = (group: StageGroup | undefined): JobStatus => ({
    status: "failed",
    reason: "script_failure",
    exitCode: 1,
    message: "",
    phase: "stage",
    group,
  });
  const canceledIn = (group: StageGroup | undefined): JobStatus => ({ status: "canceled", group });
  // A job with every stage: sources, two steps, after_script, caches and artifacts both ways.
  const job = parseJob(
    JSON.stringify({
      id: 1,
      steps: [
        { name: "script", script: ["true"] },
        { name: "release", script: ["true"], when: "always" },
        { name: "after_script", script: ["true"] },
      ],
      cache: [{ paths: ["a"], when: "always" }],
      artifacts: [{ paths: ["b"], when: "always" }],
      dependencies: [{ id: 2, name: "dep", artifacts_file: { filename: "a.zip" } }],
    }),
    "job.json",
  );
  const all = planStages(job);
  const running = (status: JobStatus, stopping: boolean) =>
    all.filter((s) => shouldRun(s, status, stopping)).map((s): string => s.name);

  test("the plan has every group", () => {
    expect(all.map((s) => `${s.group}:${s.name}`)).toEqual([
      "prepare_script:prepare_script",
      "sources:get_sources",
      "sources:restore_cache",
      "sources:download_artifacts",
      "steps:build_script",
      "steps:step_release",
      "after_script:after_script",
      "post:archive_cache",
      "post:archive_cache_on_failure",
      "post:upload_artifacts_on_success",
      "post:upload_artifacts_on_failure",
      "post:cleanup_file_variables",
    ]);
  });

  test.each<[string, JobStatus, boolean, string[]]>([
    [
      "a successful job: all but the on-failure stages",
      NOT_FAILED,
      false,
      [
        "prepare_script",
        "get_sources",
        "restore_cache",
        "download_artifacts",
        "build_script",
        "step_release",
        "after_script",
        "archive_cache",
        "upload_artifacts_on_success",
        "cleanup_file_variables",
      ],
    ],
    [
      "prepare_script failed: nothing more, not even a `when: always` step",
      failedIn("prepare_script"),
      false,
      [],
    ],
    [
      "get_sources failed: no step, no after_script; the on-failure stages and the cleanup",
      failedIn("sources"),
      false,
      ["archive_cache_on_failure", "upload_artifacts_on_failure", "cleanup_file_variables"],
    ],
    [
      "a step failed: no later step (whatever its `when`), after_script, the on-failure stages",
      failedIn("steps"),
      false,
      ["after_script", "archive_cache_on_failure", "upload_artifacts_on_failure", "cleanup_file_variables"],
    ],
    [
      "canceled during the sources: only the file variables' cleanup",
      canceledIn("sources"),
      true,
      ["cleanup_file_variables"],
    ],
    [
      "canceled during a step: after_script and the cleanup",
      canceledIn("steps"),
      true,
      ["after_script", "cleanup_file_variables"],
    ],
    ["canceled during prepare_script: nothing", canceledIn("prepare_script"), true, []],
    [
      "a step failed, then a cancel: after_script and the cleanup",
      failedIn("steps"),
      true,
      ["after_script", "cleanup_file_variables"],
    ],
  ])("%s", (_, status, stopping, expected) => {
    expect(running(status, stopping)).toEqual(expected);
  });
});

describe("shouldRun: the post stages follow the outcome they began with", () => {
  test("an on-success upload that fails does not run the on-failure upload too (GitLab runs one)", () => {
    const job = parseJob(
      JSON.stringify({
        id: 1,
        steps: [{ name: "script", script: ["true"] }],
        artifacts: [{ paths: ["b"], when: "always" }],
      }),
      "job.json",
    );
    const stages = planStages(job);
    const onFailure = stages.find((s) => s.name === "upload_artifacts_on_failure")!;
    const cleanup = stages.find((s) => s.name === "cleanup_file_variables")!;
    const failedInPost: JobStatus = {
      status: "failed",
      reason: "runner_system_failure",
      exitCode: undefined,
      message: "upload failed",
      phase: "stage",
      group: "post",
    };
    expect(shouldRun(onFailure, failedInPost, false, NOT_FAILED)).toBe(false);
    expect(shouldRun(cleanup, failedInPost, false, NOT_FAILED)).toBe(true);
    // Without the outcome the post stages began with, the live status decides.
    expect(shouldRun(onFailure, failedInPost, false)).toBe(true);
  });
});

describe("settledJobStatus: CI_JOB_STATUS from after_script on", () => {
  const failed = (reason: string): JobStatus =>
    ({
      status: "failed",
      reason,
      exitCode: undefined,
      message: "",
      phase: "stage",
      group: "steps",
    }) as JobStatus;
  test.each<[JobStatus, string]>([
    [NOT_FAILED, "success"],
    [failed("script_failure"), "failed"],
    [failed("runner_system_failure"), "failed"],
    [failed("job_execution_timeout"), "timedout"],
    [failed("runner_interrupted"), "canceled"],
    [{ status: "canceled", group: "steps" }, "canceled"],
  ])("%j → %s", (status, expected) => {
    expect<string>(settledJobStatus(status)).toBe(expected);
  });
});

describe("jobResult", () => {
  test("each status has its shape", () => {
    expect(jobResult(NOT_FAILED, [], 5)).toEqual({ status: "success", stages: [], durationMs: 5 });
    expect(jobResult({ status: "canceled", group: "steps" }, [], 5)).toEqual({
      status: "canceled",
      reason: "job_canceled",
      message: "the job was canceled",
      stages: [],
      durationMs: 5,
    });
    expect(
      jobResult(
        {
          status: "failed",
          reason: "script_failure",
          exitCode: 2,
          message: "m",
          phase: "stage",
          group: "steps",
        },
        [],
        5,
      ),
    ).toEqual({
      status: "failed",
      reason: "script_failure",
      exitCode: 2,
      message: "m",
      stages: [],
      durationMs: 5,
    });
  });
});

function phases(): Phase[] {
  return [
    { kind: "connect", configurationError: false },
    { kind: "prepare", lastAttempt: false },
    { kind: "started_hooks" },
    { kind: "stage", stage: stage() },
    { kind: "stage", stage: stage({ affectsStatus: false }) },
    { kind: "completed_hooks" },
  ];
}
