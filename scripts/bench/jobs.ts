/** Job JSON files and config.toml sections for the benchmarks that run whole jobs (f, g). */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface JobVariable {
  key: string;
  value: string;
  public: boolean;
  masked?: boolean;
}

/** A job in GitLab's job JSON: no sources to fetch, the given script lines. */
export function jobJson(id: number, script: readonly string[], variables: readonly JobVariable[] = []) {
  const zeros = "0".repeat(40);
  return {
    id,
    token: `bench-job-token-${id}`,
    job_info: { name: `job-${id}`, stage: "test", project_id: 1, project_name: "bench" },
    git_info: {
      repo_url: "https://gitlab.invalid/bench/bench.git",
      ref: "main",
      sha: zeros,
      before_sha: zeros,
      ref_type: "branch",
      refspecs: [],
      depth: 0,
    },
    runner_info: { timeout: 600 },
    variables: [
      { key: "CI_PROJECT_PATH", value: "bench/bench", public: true },
      { key: "GIT_STRATEGY", value: "none", public: true },
      ...variables,
    ],
    steps: [{ name: "script", script, timeout: 600, when: "on_success", allow_failure: false }],
  };
}

/** Writes `job` as `<dir>/<name>.json`, mode 0600 like a real job file; returns the path. */
export function writeJob(dir: string, name: string, job: object): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(job)}\n`, { mode: 0o600 });
  return path;
}

/** A JSON string is a valid TOML basic string. */
export const toml = JSON.stringify;
