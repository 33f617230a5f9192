/**
 * What job hooks and lifecycle plugins see of a job: the one place that decides it. They run on the
 * host with drover's rights, next to code the administrator trusts, while the job's variables come
 * from the project: a variable like GIT_CONFIG_*, PERL5OPT or GITHUB_WORKSPACE can make a hook run
 * code or delete the wrong directory (test/e2e/attacks/hook-environment.test.ts). A deny-list cannot
 * be made complete, so this is an allow-list (docs/security.md, docs/hooks.md):
 *
 *  - the predefined CI_* values drover itself derives (from the job's id, name, project path,
 *    checked git data, the directories it chose), with drover's value whatever the payload says;
 *  - a few more that GitLab's server sends, when their value has the expected form (ids are
 *    digits, URLs are http(s) without credentials, the pipeline source is one of GitLab's);
 *  - a project variable only where the administrator names it (`[hooks] pass_variables`), and
 *    never a masked one.
 *
 * Never the job token, never a masked value, never the raw job JSON (the token and every secret
 * are in it): `job_json` is a public summary. Hooks build their GITHUB_* and RUNNER_* names from
 * this; what they cannot override is the plugin's business (plugins/script-hooks/hook-env.ts).
 */
import { create } from "@bufbuild/protobuf";
import { type JobContext, JobContextSchema } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import { expandAll } from "../../kernel/variables.ts";
import { parseRepository, refNameProblem } from "./git-input.ts";
import type { Job, JobVariable } from "./model.ts";

/** Names the payload may send, and the form a value must have to be passed on. */
const SERVER_VALUES: ReadonlyArray<[string, RegExp]> = [
  ["CI_PIPELINE_ID", /^\d{1,20}$/],
  ["CI_PIPELINE_IID", /^\d{1,20}$/],
  ["GITLAB_USER_ID", /^\d{1,20}$/],
  ["GITLAB_USER_LOGIN", /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}$/],
  ["CI_SERVER_HOST", /^[A-Za-z0-9.-]{1,253}$/],
  ["CI_SERVER_PORT", /^\d{1,5}$/],
  ["CI_SERVER_PROTOCOL", /^https?$/],
  [
    "CI_PIPELINE_SOURCE",
    /^(push|web|trigger|schedule|api|external|pipeline|chat|webide|merge_request_event|external_pull_request_event|parent_pipeline|ondemand_dast_scan|ondemand_dast_validation|security_orchestration_policy)$/,
  ],
  ["CI_DEBUG_TRACE", /^(true|false)$/],
  // GITHUB_RUN_ATTEMPT and GITHUB_WORKFLOW are made from these (plugins/script-hooks/hook-env.ts).
  ["CI_JOB_RETRY_COUNT", /^\d{1,9}$/],
  ["CI_PIPELINE_NAME", /^[^\x00-\x1f\x7f]{1,255}$/],
  ["CI_CONFIG_PATH", /^[^\x00-\x1f\x7f]{1,1024}$/],
];
/** The same, for values that are URLs: http(s), no credentials, nothing but a URL. */
const SERVER_URLS = ["CI_SERVER_URL", "CI_API_V4_URL", "CI_PROJECT_URL", "CI_PIPELINE_URL", "CI_JOB_URL"];
/** Predefined names drover derives that hooks do not get: the token, and the URL that carries it. */
const WITHHELD = new Set(["CI_JOB_TOKEN", "CI_REPOSITORY_URL"]);

/**
 * Names a hook's environment needs for itself: no project variable may be passed under them, even
 * when an administrator names it. drover's own, GitHub's, and those that change which program runs
 * or how it starts.
 */
export function reservedForHooks(name: string): boolean {
  return (
    /^(GITHUB_|RUNNER_|DROVER_|ACTIONS_|CI_|GITLAB_|LD_|DYLD_|BASH_FUNC_|GIT_)/.test(name) ||
    [
      "PATH",
      "HOME",
      "SHELL",
      "ENV",
      "BASH_ENV",
      "SHELLOPTS",
      "BASHOPTS",
      "IFS",
      "PS4",
      "PROMPT_COMMAND",
      "TMPDIR",
      "PYTHONPATH",
      "PYTHONSTARTUP",
      "PYTHONWARNINGS",
      "PERL5LIB",
      "PERL5OPT",
      "PERL5DB",
      "RUBYOPT",
      "RUBYLIB",
      "NODE_OPTIONS",
      "NODE_PATH",
      "BROWSER",
      "EDITOR",
      "PAGER",
      "GIT_ASKPASS",
      "SSH_ASKPASS",
      "XDG_CONFIG_HOME",
    ].includes(name)
  );
}

export interface HookContextInput {
  job: Job;
  jobKey: string;
  runnerName: string;
  /** drover's predefined variables, as it derived them (not overridden by the payload). */
  predefined: readonly JobVariable[];
  /** Every variable of the job, in override order (for the values of the names passed on). */
  variables: readonly JobVariable[];
  /** `[hooks] pass_variables`. */
  passVariables: readonly string[];
  /** The participant's own settings (JobContext.runner_settings_json). */
  settingsJson: string;
  containment: { trackingId: string; cgroup: string };
}

export function hookContext(input: HookContextInput): JobContext {
  const { job } = input;
  return create(JobContextSchema, {
    jobId: input.jobKey,
    jobName: job.name,
    jobJson: new TextEncoder().encode(JSON.stringify(publicJob(job))),
    variables: allowedVariables(input),
    runnerName: input.runnerName,
    runnerSettingsJson: input.settingsJson,
    ...(job.image ? { image: { name: job.image.name, alias: job.image.alias } } : {}),
    services: job.services.map((s) => ({ name: s.name, alias: s.alias })),
    containment: input.containment,
  });
}

function allowedVariables(input: HookContextInput): JobVariable[] {
  const out = new Map<string, JobVariable>();
  const plain = (key: string, value: string): JobVariable => ({
    key,
    value,
    public: true,
    masked: false,
    file: false,
    raw: true,
  });
  for (const v of input.predefined) {
    if (WITHHELD.has(v.key) || v.masked) continue;
    out.set(v.key, plain(v.key, v.value));
  }
  const repository = input.job.git ? parseRepository(input.job.git.repoUrl) : undefined;
  if (repository && !("problem" in repository))
    out.set("CI_REPOSITORY_URL", plain("CI_REPOSITORY_URL", repository.url));

  const expanded = expandAll(input.variables);
  const last = new Map<string, JobVariable>();
  for (const v of expanded) last.set(v.key, v);
  const masked = new Set(
    expanded
      .filter((v) => v.masked)
      .map((v) => v.value)
      .filter(Boolean),
  );
  const passable = (v: JobVariable | undefined): v is JobVariable =>
    v !== undefined && !v.masked && !masked.has(v.value);
  for (const [key, form] of SERVER_VALUES) {
    const v = last.get(key);
    if (passable(v) && !out.has(key) && form.test(v.value)) out.set(key, plain(key, v.value));
  }
  for (const key of SERVER_URLS) {
    const v = last.get(key);
    if (passable(v) && !out.has(key) && isPlainHttpUrl(v.value)) out.set(key, plain(key, v.value));
  }
  const branch = last.get("CI_DEFAULT_BRANCH");
  if (passable(branch) && refNameProblem(branch.value) === undefined) {
    out.set("CI_DEFAULT_BRANCH", plain("CI_DEFAULT_BRANCH", branch.value));
  }
  for (const key of input.passVariables) {
    const v = last.get(key);
    if (passable(v) && !out.has(key)) out.set(key, { ...v, raw: true });
  }
  return [...out.values()];
}

function isPlainHttpUrl(value: string): boolean {
  if (!/^https?:\/\/[^\s]+$/.test(value)) return false;
  try {
    const url = new URL(value);
    return url.username === "" && url.password === "";
  } catch {
    return false;
  }
}

/** The job as hooks may see it: what it is and where it comes from, none of its secrets. */
function publicJob(job: Job): unknown {
  const repository = job.git ? parseRepository(job.git.repoUrl) : undefined;
  return {
    id: Number(job.id) || job.id,
    job_info: { name: job.name, stage: job.stage, project_id: job.projectId, project_path: job.projectPath },
    ...(job.git
      ? {
          git_info: {
            repo_url: repository && !("problem" in repository) ? repository.url : "",
            ref: job.git.ref,
            sha: job.git.sha,
            before_sha: job.git.beforeSha,
            ref_type: job.git.refType,
          },
        }
      : {}),
    runner_info: { timeout: job.timeoutSeconds },
    ...(job.image ? { image: { name: job.image.name } } : {}),
    services: job.services.map((s) => ({ name: s.name, alias: s.alias })),
  };
}
