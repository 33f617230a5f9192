/**
 * Job variables: the predefined set drover adds as GitLab Runner does, the override order, `$VAR`
 * expansion with GitLab's rules, and the list of values the job log must mask.
 */

import { expandVariables, variableTable } from "../../kernel/variables.ts";
import type { Job, JobVariable } from "./model.ts";

export interface VariableContext {
  buildsDir: string;
  projectDir: string;
  concurrentId: number;
  concurrentProjectId: number;
  runnerShortToken: string;
  /** The runner's `name` from config (GitLab's runner description). */
  runnerName: string;
  /** CI_RUNNER_ID: the payload carries GitLab's; this is the fallback (config `id`, else 0). */
  runnerId?: string;
  /** CI_RUNNER_VERSION and CI_RUNNER_REVISION: drover's. */
  runnerVersion?: string;
  runnerRevision?: string;
  /**
   * CI_SHARED_ENVIRONMENT=true (the executor's environment outlives the job: shell, custom) or
   * CI_DISPOSABLE_ENVIRONMENT=true (each job gets a fresh one).
   */
  sharedEnvironment?: boolean | undefined;
  /**
   * The executor's host name (config_exec `hostname`). Accepted so callers can pass what they have;
   * GitLab defines no job variable for it, so none is added.
   */
  hostname?: string;
  jobStatus?: CiJobStatus;
}

/** CI_JOB_STATUS: "running" until after_script, then how the job went (GitLab's BuildRuntimeState). */
export type CiJobStatus = "running" | "success" | "failed" | "canceled" | "timedout";

function variable(
  key: string,
  value: string,
  opts: { masked?: boolean; public?: boolean } = {},
): JobVariable {
  return { key, value, public: opts.public ?? true, masked: opts.masked ?? false, file: false, raw: false };
}

/**
 * GitLab's predefined variables for `job`, those its server sends and those its runner adds.
 *
 * They come first in `allVariables`, so a payload variable of the same name wins. That is GitLab's
 * order for the runner's own defaults (`CI_PROJECT_DIR`, `CI_JOB_STATUS`, ... precede the job's
 * variables in `Build.GetAllVariables`), and for the server's ones (`CI_COMMIT_REF_NAME`,
 * `CI_PROJECT_NAMESPACE`, ...) a real GitLab payload carries the authoritative value (subgroups,
 * merge-request refs) where drover can only derive one. GitLab appends `CI_RUNNER_EXECUTABLE_ARCH`
 * after the job's variables; drover keeps one rule (payload wins) for every name.
 */
export function predefinedVariables(job: Job, ctx: VariableContext): JobVariable[] {
  const slash = job.projectPath.lastIndexOf("/");
  const vars: JobVariable[] = [
    variable("CI", "true"),
    variable("GITLAB_CI", "true"),
    variable("CI_SERVER", "yes"),
    variable("CI_JOB_ID", job.id),
    variable("CI_JOB_NAME", job.name),
    variable("CI_JOB_STAGE", job.stage),
    variable("CI_JOB_TOKEN", job.token, { masked: true, public: false }),
    variable("CI_JOB_TIMEOUT", String(Math.trunc(job.timeoutSeconds))),
  ];
  if (ctx.jobStatus !== undefined) vars.push(variable("CI_JOB_STATUS", ctx.jobStatus));
  if (job.image !== undefined) vars.push(variable("CI_JOB_IMAGE", job.image.name));
  vars.push(
    variable("CI_PROJECT_ID", String(job.projectId)),
    variable("CI_PROJECT_PATH", job.projectPath),
    variable("CI_PROJECT_PATH_SLUG", slugify(job.projectPath)),
    variable("CI_PROJECT_NAME", job.projectPath.slice(slash + 1)),
    variable("CI_PROJECT_NAMESPACE", slash === -1 ? "" : job.projectPath.slice(0, slash)),
    variable("CI_PROJECT_DIR", ctx.projectDir),
    variable("CI_BUILDS_DIR", ctx.buildsDir),
    variable("RUNNER_TEMP_PROJECT_DIR", `${ctx.projectDir}.tmp`),
    variable("CI_CONCURRENT_ID", String(ctx.concurrentId)),
    variable("CI_CONCURRENT_PROJECT_ID", String(ctx.concurrentProjectId)),
    variable("CI_RUNNER_SHORT_TOKEN", ctx.runnerShortToken),
    variable("CI_RUNNER_DESCRIPTION", ctx.runnerName),
  );
  if (ctx.runnerId !== undefined) vars.push(variable("CI_RUNNER_ID", ctx.runnerId));
  if (ctx.runnerVersion !== undefined) vars.push(variable("CI_RUNNER_VERSION", ctx.runnerVersion));
  if (ctx.runnerRevision !== undefined) vars.push(variable("CI_RUNNER_REVISION", ctx.runnerRevision));
  vars.push(variable("CI_RUNNER_EXECUTABLE_ARCH", executableArch()));
  if (ctx.sharedEnvironment !== undefined) {
    vars.push(
      variable(ctx.sharedEnvironment ? "CI_SHARED_ENVIRONMENT" : "CI_DISPOSABLE_ENVIRONMENT", "true"),
    );
  }
  const git = job.git;
  if (git !== undefined) {
    vars.push(
      variable("CI_COMMIT_SHA", git.sha),
      variable("CI_COMMIT_SHORT_SHA", git.sha.slice(0, 8)),
      // GitLab's value for a first push, when there is no previous commit.
      variable("CI_COMMIT_BEFORE_SHA", git.beforeSha || "0".repeat(40)),
      variable("CI_COMMIT_REF_NAME", git.ref),
      variable("CI_COMMIT_REF_SLUG", slugify(git.ref)),
      variable(git.refType === "tag" ? "CI_COMMIT_TAG" : "CI_COMMIT_BRANCH", git.ref),
      // The URL carries the job token as GitLab sends it; the token is masked through CI_JOB_TOKEN.
      variable("CI_REPOSITORY_URL", git.repoUrl, { public: false }),
    );
  }
  return vars;
}

/** Predefined variables, then the job's own, in the order later definitions override earlier ones. */
export function allVariables(job: Job, ctx: VariableContext): JobVariable[] {
  return [...predefinedVariables(job, ctx), ...job.variables];
}

/**
 * A boolean variable as GitLab Runner reads one (Go's `strconv.ParseBool`): `1 t T TRUE true True`
 * and `0 f F FALSE false False`; undefined for anything else.
 */
export function parseBool(value: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  return undefined;
}

/** GitLab's `$CI_COMMIT_REF_SLUG` rule: lower case, `[^a-z0-9]` → "-", at most 63, no "-" at the ends. */
export function slugify(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "-")
    .slice(0, 63)
    .replace(/^-+|-+$/g, "");
}

/** Go's GOOS/GOARCH spelling ("linux/amd64"), as GitLab Runner reports its own build. */
function executableArch(): string {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const arch =
    { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm" }[process.arch as string] ?? process.arch;
  return `${os}/${arch}`;
}

/**
 * The strings the job log must replace with `[MASKED]`: every masked variable's value as given and
 * as expanded, without empties or duplicates, longest first so that a masker trying them in order
 * never leaves the tail of a longer secret behind a shorter one that prefixes it.
 */
export function maskedValues(vars: readonly JobVariable[]): string[] {
  const table = variableTable(vars);
  const values = new Set<string>();
  for (const v of vars) {
    if (!v.masked) continue;
    if (v.value !== "") values.add(v.value);
    if (!v.raw) {
      const expanded = expandVariables(v.value, table);
      if (expanded !== "") values.add(expanded);
    }
  }
  return [...values].sort((a, b) => b.length - a.length);
}
