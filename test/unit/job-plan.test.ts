import { describe, expect, test } from "bun:test";
import { type Job, type JobVariable, parseDuration, parseJob, planStages } from "../../src/job/index.ts";

function job(extra: Record<string, unknown> = {}): Job {
  return parseJob(
    JSON.stringify({ id: 1, steps: [{ name: "script", script: ["make"] }], ...extra }),
    "job.json",
  );
}

function variables(pairs: Record<string, string>): Array<Partial<JobVariable>> {
  return Object.entries(pairs).map(([key, value]) => ({ key, value }));
}

const names = (j: Job) => planStages(j).map((s) => s.name);

describe("planStages", () => {
  test("a plain job: exactly prepare_script, get_sources, build_script, cleanup_file_variables", () => {
    expect(planStages(job())).toEqual([
      {
        name: "prepare_script",
        group: "prepare_script",
        when: "on_success",
        runsOnCancel: false,
        affectsStatus: true,
        attempts: 1,
        timeoutSeconds: undefined,
        allowFailure: false,
      },
      {
        name: "get_sources",
        group: "sources",
        when: "on_success",
        runsOnCancel: false,
        affectsStatus: true,
        attempts: 1,
        timeoutSeconds: undefined,
        allowFailure: false,
      },
      {
        name: "build_script",
        group: "steps",
        when: "on_success",
        runsOnCancel: false,
        affectsStatus: true,
        attempts: 1,
        timeoutSeconds: undefined,
        allowFailure: false,
      },
      {
        name: "cleanup_file_variables",
        group: "post",
        when: "always",
        runsOnCancel: true,
        affectsStatus: false,
        attempts: 1,
        timeoutSeconds: undefined,
        allowFailure: false,
      },
    ]);
  });

  test("after_script: always, on cancel, never affects status, 5 minutes by default", () => {
    const stages = planStages(
      job({
        steps: [
          { name: "after_script", script: ["echo bye"] },
          { name: "script", script: ["make"], timeout: 900 },
        ],
      }),
    );
    expect(stages.map((s) => s.name)).toEqual([
      "prepare_script",
      "get_sources",
      "build_script",
      "after_script",
      "cleanup_file_variables",
    ]);
    expect(stages[2]?.timeoutSeconds).toBe(900);
    expect(stages[3]).toEqual({
      name: "after_script",
      group: "after_script",
      when: "always",
      runsOnCancel: true,
      affectsStatus: false,
      attempts: 1,
      timeoutSeconds: 300,
      allowFailure: false,
    });
  });

  test("an empty after_script has nothing to do", () => {
    expect(
      names(
        job({
          steps: [
            { name: "script", script: ["make"] },
            { name: "after_script", script: [] },
          ],
        }),
      ),
    ).not.toContain("after_script");
  });

  test("other steps run as step_<name> in order, with their allow_failure; like GitLab, while the job succeeds whatever their `when`", () => {
    const stages = planStages(
      job({
        steps: [
          { name: "script", script: ["make"] },
          { name: "release", script: ["./release"], when: "on_success", allow_failure: true },
          { name: "notify", script: ["./notify"], when: "on_failure" },
        ],
      }),
    );
    expect(stages.map((s) => [s.name, s.when, s.allowFailure])).toEqual([
      ["prepare_script", "on_success", false],
      ["get_sources", "on_success", false],
      ["build_script", "on_success", false],
      ["step_release", "on_success", true],
      ["step_notify", "on_success", false],
      ["cleanup_file_variables", "always", false],
    ]);
  });

  const pre = ["prepare_script", "get_sources"];
  const post = ["cleanup_file_variables"];
  test.each([
    [[{ paths: ["vendor"] }], [...pre, "restore_cache", "build_script", "archive_cache", ...post]],
    [[{ paths: ["vendor"], policy: "pull" }], [...pre, "restore_cache", "build_script", ...post]],
    [[{ paths: ["vendor"], policy: "push" }], [...pre, "build_script", "archive_cache", ...post]],
    [
      [{ paths: ["vendor"], when: "on_failure" }],
      [...pre, "restore_cache", "build_script", "archive_cache_on_failure", ...post],
    ],
    [
      [{ paths: ["vendor"], when: "always" }],
      [...pre, "restore_cache", "build_script", "archive_cache", "archive_cache_on_failure", ...post],
    ],
    [[{ untracked: true, policy: "push" }], [...pre, "build_script", "archive_cache", ...post]],
    [[{ key: "nothing-to-cache" }], [...pre, "build_script", ...post]],
  ])("cache %j", (cache, expected) => {
    const stages = planStages(job({ cache }));
    expect(stages.map((s): string => s.name)).toEqual(expected);
    for (const stage of stages.filter((s) => s.name.startsWith("archive_cache"))) {
      expect(stage).toMatchObject({
        affectsStatus: false,
        when: stage.name === "archive_cache" ? "on_success" : "on_failure",
      });
    }
  });

  test("artifacts and dependencies plan their (not yet supported) stages in the order of docs/jobs.md", () => {
    const j = job({
      artifacts: [{ paths: ["out"], when: "always" }],
      dependencies: [{ id: 2, name: "build", artifacts_file: { filename: "a.zip", size: 1 } }],
      cache: [{ paths: ["c"] }],
      steps: [
        { name: "script", script: ["make"] },
        { name: "after_script", script: ["x"] },
      ],
    });
    expect(names(j)).toEqual([
      "prepare_script",
      "get_sources",
      "restore_cache",
      "download_artifacts",
      "build_script",
      "after_script",
      "archive_cache",
      "upload_artifacts_on_success",
      "upload_artifacts_on_failure",
      "cleanup_file_variables",
    ]);
  });

  test("a dependency without artifacts downloads nothing", () => {
    expect(names(job({ dependencies: [{ id: 2, name: "lint" }] }))).not.toContain("download_artifacts");
  });

  test("attempts: 1..10 from the variables, anything else 1", () => {
    const j = job({
      variables: variables({
        GET_SOURCES_ATTEMPTS: "3",
        RESTORE_CACHE_ATTEMPTS: "11",
        ARTIFACT_DOWNLOAD_ATTEMPTS: "x",
      }),
      cache: [{ paths: ["c"] }],
      dependencies: [{ id: 2, name: "b", artifacts_file: { filename: "a.zip" } }],
    });
    const attempts = Object.fromEntries(planStages(j).map((s) => [s.name, s.attempts]));
    expect(attempts).toMatchObject({
      get_sources: 3,
      restore_cache: 1,
      download_artifacts: 1,
      build_script: 1,
    });
    const viaEnv = planStages(job(), [
      { key: "GET_SOURCES_ATTEMPTS", value: "10", public: true, masked: false, file: false, raw: false },
    ]);
    expect(viaEnv[1]).toMatchObject({ name: "get_sources", attempts: 10 });
    expect(planStages(job({ variables: variables({ GET_SOURCES_ATTEMPTS: "0" }) }))[1]?.attempts).toBe(1);
  });

  test("RUNNER_SCRIPT_TIMEOUT and RUNNER_AFTER_SCRIPT_TIMEOUT", () => {
    const stages = planStages(
      job({
        variables: variables({ RUNNER_SCRIPT_TIMEOUT: "1h30m", RUNNER_AFTER_SCRIPT_TIMEOUT: "90s" }),
        steps: [
          { name: "script", script: ["make"], timeout: 3600 },
          { name: "after_script", script: ["x"] },
        ],
      }),
    );
    expect(stages.find((s) => s.name === "build_script")?.timeoutSeconds).toBe(5400);
    expect(stages.find((s) => s.name === "after_script")?.timeoutSeconds).toBe(90);
    const bad = planStages(
      job({
        variables: variables({ RUNNER_AFTER_SCRIPT_TIMEOUT: "soon" }),
        steps: [
          { name: "script", script: [] },
          { name: "after_script", script: ["x"] },
        ],
      }),
    );
    expect(bad.find((s) => s.name === "after_script")?.timeoutSeconds).toBe(300);
  });
});

describe("parseDuration", () => {
  test.each([
    ["5m", 300],
    ["90s", 90],
    ["1h30m", 5400],
    ["1.5h", 5400],
    ["250ms", 0.25],
    ["1m0.5s", 60.5],
    ["+2m", 120],
    ["300", 300],
    ["0", 0],
    [" 10s ", 10],
  ])("%j is %d s", (text, seconds) => {
    expect(parseDuration(text)).toBeCloseTo(seconds, 9);
  });

  test.each(["", "m", "5x", "-5m", "5m garbage", "1h 30m", "."])("%j is not a duration", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
