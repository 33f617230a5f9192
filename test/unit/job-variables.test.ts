// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are shell and GitLab variable references
import { describe, expect, test } from "bun:test";
import { expandAll, expandVariables } from "../../kernel/variables.ts";
import {
  allVariables,
  type JobVariable,
  maskedValues,
  parseJob,
  predefinedVariables,
  slugify,
} from "../../src/job/index.ts";

const sha = "0123456789abcdef0123456789abcdef01234567";
const job = parseJob(
  JSON.stringify({
    id: 99,
    token: "secret-token",
    job_info: { name: "unit tests", stage: "test", project_id: 12, project_name: "App" },
    git_info: {
      repo_url: "https://gitlab-ci-token:secret-token@h/grp/sub/app.git",
      ref: "Feature/X_1",
      sha,
      ref_type: "branch",
    },
    runner_info: { timeout: 1800 },
    image: { name: "alpine:3" },
    variables: [
      { key: "CI_COMMIT_REF_NAME", value: "from-server" },
      { key: "MINE", value: "1" },
    ],
    steps: [{ name: "script", script: ["true"] }],
  }),
  "job.json",
);
const ctx = {
  buildsDir: "/b",
  projectDir: "/b/grp/sub/app",
  concurrentId: 3,
  concurrentProjectId: 1,
  runnerShortToken: "abcd1234",
  runnerName: "host-a",
  jobStatus: "running" as const,
};

function v(key: string, value: string, extra: Partial<JobVariable> = {}): JobVariable {
  return { key, value, public: true, masked: false, file: false, raw: false, ...extra };
}

describe("predefinedVariables", () => {
  test("GitLab's set, derived from the job and the context", () => {
    const vars = predefinedVariables(job, ctx);
    const byKey = Object.fromEntries(vars.map((x) => [x.key, x.value]));
    expect(byKey).toMatchObject({
      CI: "true",
      GITLAB_CI: "true",
      CI_SERVER: "yes",
      CI_JOB_ID: "99",
      CI_JOB_NAME: "unit tests",
      CI_JOB_STAGE: "test",
      CI_JOB_TOKEN: "secret-token",
      CI_JOB_TIMEOUT: "1800",
      CI_JOB_STATUS: "running",
      CI_JOB_IMAGE: "alpine:3",
      CI_PROJECT_ID: "12",
      CI_PROJECT_PATH: "grp/sub/app",
      CI_PROJECT_PATH_SLUG: "grp-sub-app",
      CI_PROJECT_NAME: "app",
      CI_PROJECT_NAMESPACE: "grp/sub",
      CI_PROJECT_DIR: "/b/grp/sub/app",
      CI_BUILDS_DIR: "/b",
      CI_CONCURRENT_ID: "3",
      CI_CONCURRENT_PROJECT_ID: "1",
      CI_RUNNER_SHORT_TOKEN: "abcd1234",
      CI_RUNNER_DESCRIPTION: "host-a",
      CI_COMMIT_SHA: sha,
      CI_COMMIT_SHORT_SHA: "01234567",
      CI_COMMIT_BEFORE_SHA: "0".repeat(40),
      CI_COMMIT_REF_NAME: "Feature/X_1",
      CI_COMMIT_REF_SLUG: "feature-x-1",
      CI_COMMIT_BRANCH: "Feature/X_1",
      CI_REPOSITORY_URL: "https://gitlab-ci-token:secret-token@h/grp/sub/app.git",
    });
    expect(byKey.CI_RUNNER_EXECUTABLE_ARCH).toMatch(/^[a-z0-9]+\/[a-z0-9]+$/);
    expect(vars.find((x) => x.key === "CI_JOB_TOKEN")).toEqual(
      v("CI_JOB_TOKEN", "secret-token", { masked: true, public: false }),
    );
    expect(new Set(vars.map((x) => x.key)).size).toBe(vars.length);
  });

  test("CI_JOB_STATUS only when given; CI_RUNNER_ID when given", () => {
    const { jobStatus: _, ...rest } = ctx;
    const keys = predefinedVariables(job, { ...rest, runnerId: "17" }).map((x) => x.key);
    expect(keys).not.toContain("CI_JOB_STATUS");
    expect(keys).toContain("CI_RUNNER_ID");
  });

  test("allVariables: predefined first, so the payload's own definition wins", () => {
    const vars = allVariables(job, ctx);
    expect(vars.slice(-2)).toEqual(job.variables);
    expect(expandVariables("$CI_COMMIT_REF_NAME", vars)).toBe("from-server");
  });

  test.each([
    ["main", "main"],
    ["-Feature/ÄB--", "feature--b"],
    ["x".repeat(70), "x".repeat(63)],
  ])("slug of %j", (ref, slug) => {
    expect(slugify(ref)).toBe(slug);
  });
});

describe("expandVariables (Go os.Expand over JobVariables.Get)", () => {
  const vars = [v("A", "a"), v("B", "$A-b"), v("A", "a2"), v("R", "$A", { raw: true })];
  test.each([
    ["plain", "plain"],
    ["$A", "a2"],
    ["${A}x", "a2x"],
    ["$Ax", ""],
    ["$B", "$A-b"],
    ["$R", "$A"],
    ["$UNSET.", "."],
    ["$$A", "$A"],
    ["cost: $ 5", "cost: $ 5"],
    ["end$", "end$"],
    ["$1 $@ $? ${#}", "$1 $@ $? $#"],
    ["${}x", "x"],
    ["${A", "A"],
    ["${A:-d}", ""],
    ["$(whoami) `id`", "$(whoami) `id`"],
  ])("%j → %j", (input, output) => {
    expect(expandVariables(input, vars)).toBe(output);
  });

  test("expandAll expands one level and leaves raw values alone", () => {
    expect(expandAll(vars).map((x) => x.value)).toEqual(["a", "a2-b", "a2", "$A"]);
  });
});

describe("maskedValues", () => {
  test("masked values as given and expanded, longest first, no empties or duplicates", () => {
    const vars = [
      v("S", "short1234", { masked: true }),
      v("L", "${S}-longer", { masked: true }),
      v("R", "$S-raw", { masked: true, raw: true }),
      v("E", "", { masked: true }),
      v("P", "public"),
      v("D", "short1234", { masked: true }),
    ];
    expect(maskedValues(vars)).toEqual(["short1234-longer", "${S}-longer", "short1234", "$S-raw"]);
  });
});
