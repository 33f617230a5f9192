/**
 * The environment a hook script runs with (docs/hooks.md), from lowest to highest precedence:
 *
 *  1. drover's own environment (scrubbed again by startChild): the administrator's;
 *  2. what drover passes hooks of the job (src/job/hook-context.ts decides: the predefined CI_*
 *     values drover derives or checks, and project variables the administrator names in
 *     `[hooks] pass_variables`; never the job token, never a masked value); a file variable is
 *     written to a 0600 file and its path exported;
 *  3. what the job's earlier started hooks exported, as later job stages see it: GITHUB_ENV's
 *     variables (for JobCompleted, the core's JobCompletedRequest.exported_env, which has every
 *     lifecycle plugin's), and GITHUB_PATH's directories in front of PATH (job-state.ts);
 *  4. drover's own, which nothing above can change: the GitHub-style names a hook author expects,
 *       GITHUB_WORKSPACE=$CI_PROJECT_DIR  RUNNER_WORKSPACE=its parent  GITHUB_JOB=$CI_JOB_NAME
 *       GITHUB_RUN_ID=$CI_PIPELINE_ID  GITHUB_RUN_NUMBER=$CI_PIPELINE_IID
 *       GITHUB_RUN_ATTEMPT=$CI_JOB_RETRY_COUNT + 1, else 1
 *       GITHUB_WORKFLOW=$CI_PIPELINE_NAME, else $CI_CONFIG_PATH, else .gitlab-ci.yml
 *       GITHUB_REPOSITORY=$CI_PROJECT_PATH
 *       GITHUB_REPOSITORY_OWNER=$CI_PROJECT_NAMESPACE  GITHUB_REPOSITORY_ID=$CI_PROJECT_ID
 *       GITHUB_SHA=$CI_COMMIT_SHA  GITHUB_REF_NAME=$CI_COMMIT_REF_NAME
 *       GITHUB_REF=refs/heads/$CI_COMMIT_BRANCH or refs/tags/$CI_COMMIT_TAG  GITHUB_REF_TYPE=branch|tag
 *       GITHUB_SERVER_URL=$CI_SERVER_URL  GITHUB_API_URL=$CI_API_V4_URL  GITHUB_ACTOR=$GITLAB_USER_LOGIN
 *       GITHUB_EVENT_NAME=$CI_PIPELINE_SOURCE  RUNNER_NAME (the runner's name)
 *       RUNNER_OS=Linux|macOS|Windows  RUNNER_ARCH=X64|ARM64|X86|ARM  RUNNER_DEBUG=1 (step debug only)
 *       RUNNER_TOOL_CACHE (toolCacheDir: the administrator's, else one per user)
 *     (each set only when its source is; not GITHUB_ACTIONS, which would make tools take drover for
 *     GitHub, nor GITHUB_TOKEN), and DROVER_JOB_ID, DROVER_HOOK (job_started|job_completed),
 *     DROVER_JOB_PATH (the job, without secrets), GITHUB_EVENT_PATH (a GitHub-shaped event,
 *     github-event.ts), GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT, GITHUB_STATE
 *     (fresh empty files), RUNNER_TEMP (the job's, job-state.ts); for JobCompleted
 *     DROVER_JOB_STATUS and CI_JOB_STATUS (success|failed|canceled), DROVER_JOB_FAILURE_REASON,
 *     DROVER_JOB_EXIT_CODE.
 */
import { homedir } from "node:os";
import { isAbsolute, join, posix } from "node:path";
import type { JobContext, JobOutcome } from "@drover/plugin-sdk";
import { githubEvent } from "./github-event.ts";
import type { StartedExports } from "./job-state.ts";

export type HookEvent = "job_started" | "job_completed";

/** The files and directories of one hook run. */
export interface HookFiles {
  /** This run's private directory (0700), which holds the files below; removed after the run. */
  dir: string;
  /** DROVER_JOB_PATH: the job as hooks may see it (JobContext.job_json, no secret in it). */
  jobJson: string;
  /** GITHUB_EVENT_PATH: a GitHub-shaped event (github-event.ts). */
  event: string;
  env: string;
  path: string;
  stepSummary: string;
  output: string;
  state: string;
  /** RUNNER_TEMP: the job's, the same for all its hooks (job-state.ts). */
  temp: string;
  /** Where file variables are written. */
  fileVariables: string;
}

export interface HookEnvInput {
  event: HookEvent;
  /** drover's environment. */
  base: Record<string, string | undefined>;
  job: JobContext;
  files: HookFiles;
  debug: boolean;
  /** What the job's started hooks exported so far, as this plugin saw it (job-state.ts). */
  exported?: StartedExports;
  /** JobCompleted only; `exportedEnv` is the core's record, which wins over `exported.env`. */
  completed?: { outcome: JobOutcome | undefined; exportedEnv: Record<string, string> };
}

export interface HookEnvironment {
  env: Record<string, string>;
  /** File variables to write (0600) before the hook starts. */
  fileVariables: Array<{ path: string; content: string }>;
  /** GITHUB_EVENT_PATH's content (github-event.ts). */
  event: Record<string, unknown>;
}

/** Names and values a process environment can hold (execve: no "=" in a name, no NUL anywhere). */
function passable(name: string, value: string): boolean {
  return name !== "" && !name.includes("=") && !name.includes("\0") && !value.includes("\0");
}

function runnerOs(): string {
  return process.platform === "darwin" ? "macOS" : process.platform === "win32" ? "Windows" : "Linux";
}

function runnerArch(): string {
  return (
    ({ x64: "X64", arm64: "ARM64", ia32: "X86", arm: "ARM" } as Record<string, string>)[process.arch] ??
    process.arch
  );
}

/**
 * RUNNER_TOOL_CACHE, where setup tools keep what they download: the administrator's, read as
 * GitHub's runner reads it (RUNNER_TOOL_CACHE, else RUNNER_TOOLSDIRECTORY, else
 * AGENT_TOOLSDIRECTORY; the first one set decides, an empty one meaning the default), else a
 * directory of drover's user that stays from job to job: `$XDG_CACHE_HOME/drover/tool-cache`
 * (`~/.cache/drover/tool-cache`), where GitHub's runner has `<runner>/_work/_tool`.
 */
export function toolCacheDir(base: Record<string, string | undefined>): string {
  const chosen = base.RUNNER_TOOL_CACHE ?? base.RUNNER_TOOLSDIRECTORY ?? base.AGENT_TOOLSDIRECTORY;
  if (chosen) return chosen;
  // XDG: a relative XDG_CACHE_HOME is invalid and ignored.
  const cache =
    base.XDG_CACHE_HOME && isAbsolute(base.XDG_CACHE_HOME)
      ? base.XDG_CACHE_HOME
      : join(base.HOME || homedir(), ".cache");
  return join(cache, "drover", "tool-cache");
}

/** PATH with `prepend` (newest first) in front, as the job's later stages get it. */
function prependPath(path: string | undefined, prepend: readonly string[]): string | undefined {
  if (!prepend.length) return path;
  return [...prepend, ...(path ? [path] : [])].join(":");
}

/** GitHub's default variables, from the job's (already expanded) variables. */
function githubNames(
  vars: ReadonlyMap<string, string>,
  job: JobContext,
  debug: boolean,
): Record<string, string> {
  const out: Record<string, string> = {};
  const from = (name: string, source: string) => {
    const value = vars.get(source);
    if (value !== undefined && value !== "") out[name] = value;
  };
  from("GITHUB_WORKSPACE", "CI_PROJECT_DIR");
  // GitHub: runner.workspace is the directory GITHUB_WORKSPACE is made in.
  if (out.GITHUB_WORKSPACE !== undefined) out.RUNNER_WORKSPACE = posix.dirname(out.GITHUB_WORKSPACE);
  from("GITHUB_JOB", "CI_JOB_NAME");
  if (out.GITHUB_JOB === undefined && job.jobName !== "") out.GITHUB_JOB = job.jobName;
  from("GITHUB_RUN_ID", "CI_PIPELINE_ID");
  from("GITHUB_RUN_NUMBER", "CI_PIPELINE_IID");
  // GitLab counts retries from 0 (CI_JOB_RETRY_COUNT), GitHub attempts from 1.
  const retries = vars.get("CI_JOB_RETRY_COUNT");
  out.GITHUB_RUN_ATTEMPT = retries && /^\d{1,9}$/.test(retries) ? String(Number(retries) + 1) : "1";
  // GitHub's workflow is GitLab's pipeline: its name, else its file, as GitHub names an unnamed
  // workflow by its file.
  out.GITHUB_WORKFLOW = vars.get("CI_PIPELINE_NAME") || vars.get("CI_CONFIG_PATH") || ".gitlab-ci.yml";
  from("GITHUB_REPOSITORY", "CI_PROJECT_PATH");
  from("GITHUB_REPOSITORY_OWNER", "CI_PROJECT_NAMESPACE");
  from("GITHUB_REPOSITORY_ID", "CI_PROJECT_ID");
  from("GITHUB_SHA", "CI_COMMIT_SHA");
  from("GITHUB_REF_NAME", "CI_COMMIT_REF_NAME");
  const tag = vars.get("CI_COMMIT_TAG");
  const branch = vars.get("CI_COMMIT_BRANCH");
  if (tag) {
    out.GITHUB_REF = `refs/tags/${tag}`;
    out.GITHUB_REF_TYPE = "tag";
  } else if (branch) {
    out.GITHUB_REF = `refs/heads/${branch}`;
    out.GITHUB_REF_TYPE = "branch";
  }
  from("GITHUB_SERVER_URL", "CI_SERVER_URL");
  from("GITHUB_API_URL", "CI_API_V4_URL");
  from("GITHUB_ACTOR", "GITLAB_USER_LOGIN");
  from("GITHUB_EVENT_NAME", "CI_PIPELINE_SOURCE");
  if (job.runnerName !== "") out.RUNNER_NAME = job.runnerName;
  out.RUNNER_OS = runnerOs();
  out.RUNNER_ARCH = runnerArch();
  if (debug) out.RUNNER_DEBUG = "1";
  return out;
}

/** A file variable's file name: its key, made safe as a file name. */
function fileVariablePath(dir: string, key: string): string {
  return join(dir, key.replace(/[^\w.-]/g, "_"));
}

export function hookEnvironment(input: HookEnvInput): HookEnvironment {
  const { job, files } = input;
  const values = new Map<string, string>();
  const fileVariables: Array<{ path: string; content: string }> = [];
  // Only what drover passes hooks (src/job/hook-context.ts), values already final.
  for (const v of job.variables) {
    if (v.file) {
      const path = fileVariablePath(files.fileVariables, v.key);
      fileVariables.push({ path, content: v.value });
      values.set(v.key, path);
    } else {
      values.set(v.key, v.value);
    }
  }

  const env: Record<string, string> = {};
  const set = (name: string, value: string) => {
    if (passable(name, value)) env[name] = value;
  };
  for (const [name, value] of Object.entries(input.base)) if (value !== undefined) set(name, value);
  for (const [name, value] of values) set(name, value);
  for (const [name, value] of Object.entries(input.exported?.env ?? {})) set(name, value);
  if (input.completed)
    for (const [name, value] of Object.entries(input.completed.exportedEnv)) set(name, value);
  const path = prependPath(env.PATH, input.exported?.pathPrepend ?? []);
  if (path !== undefined) set("PATH", path);
  // drover's own names last: nothing above can change them.
  for (const [name, value] of Object.entries(githubNames(values, job, input.debug))) set(name, value);
  set("RUNNER_TOOL_CACHE", toolCacheDir(input.base));
  set("DROVER_JOB_ID", job.jobId);
  set("DROVER_HOOK", input.event);
  set("DROVER_JOB_PATH", files.jobJson);
  set("GITHUB_EVENT_PATH", files.event);
  set("GITHUB_ENV", files.env);
  set("GITHUB_PATH", files.path);
  set("GITHUB_STEP_SUMMARY", files.stepSummary);
  set("GITHUB_OUTPUT", files.output);
  set("GITHUB_STATE", files.state);
  set("RUNNER_TEMP", files.temp);
  if (input.completed) {
    const outcome = input.completed.outcome;
    set("DROVER_JOB_STATUS", outcome?.status ?? "");
    set("CI_JOB_STATUS", outcome?.status ?? "");
    set("DROVER_JOB_FAILURE_REASON", outcome?.failureReason ?? "");
    set("DROVER_JOB_EXIT_CODE", String(outcome?.exitCode ?? 0));
  }
  return { env, fileVariables, event: githubEvent(values) };
}
