/**
 * What hooks and lifecycle plugins see of a job (src/job/hook-context.ts): the values GitLab's
 * server sends that GitHub-style hooks are built from pass when they have their expected form.
 */
import { describe, expect, test } from "bun:test";
import { hookContext } from "../../src/job/hook-context.ts";
import { parseJob } from "../../src/job/parse.ts";

function seen(variables: Array<{ key: string; value: string; masked?: boolean }>): Map<string, string> {
  const job = parseJob(
    JSON.stringify({ id: 1, token: "tok", variables, steps: [{ name: "script", script: ["true"] }] }),
    "job.json",
  );
  const context = hookContext({
    job,
    jobKey: "1",
    runnerName: "r",
    predefined: [],
    variables: job.variables,
    passVariables: [],
    settingsJson: "{}",
    containment: { trackingId: "t", cgroup: "" },
  });
  return new Map(context.variables.map((v) => [v.key, v.value]));
}

describe("server values for GITHUB_RUN_ATTEMPT and GITHUB_WORKFLOW", () => {
  test("pass in their form", () => {
    const env = seen([
      { key: "CI_JOB_RETRY_COUNT", value: "2" },
      { key: "CI_PIPELINE_NAME", value: "Nightly build" },
      { key: "CI_CONFIG_PATH", value: "ci/.gitlab-ci.yml" },
    ]);
    expect(env.get("CI_JOB_RETRY_COUNT")).toBe("2");
    expect(env.get("CI_PIPELINE_NAME")).toBe("Nightly build");
    expect(env.get("CI_CONFIG_PATH")).toBe("ci/.gitlab-ci.yml");
  });

  test("not in another form, nor when masked", () => {
    const env = seen([
      { key: "CI_JOB_RETRY_COUNT", value: "1; rm -rf /" },
      { key: "CI_PIPELINE_NAME", value: "two\nlines" },
      { key: "CI_CONFIG_PATH", value: "secret-path", masked: true },
    ]);
    expect(env.has("CI_JOB_RETRY_COUNT")).toBe(false);
    expect(env.has("CI_PIPELINE_NAME")).toBe(false);
    expect(env.has("CI_CONFIG_PATH")).toBe(false);
  });
});
