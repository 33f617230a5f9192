/**
 * The stage plan: which run stages a job needs, in the order docs/jobs.md gives, and how each is run (when, retries,
 * timeout, whether it can fail the job). The one place a stage is decided; the engine only walks it.
 */

import { type VariableTable, variableTable, variableValue } from "../../kernel/variables.ts";
import { parseDuration } from "./duration.ts";
import type {
  ArtifactSpec,
  CacheSpec,
  Job,
  JobStep,
  JobVariable,
  PlannedStage,
  StageName,
  When,
} from "./model.ts";

/** GitLab Runner's default for RUNNER_AFTER_SCRIPT_TIMEOUT: 5 minutes. */
export const DEFAULT_AFTER_SCRIPT_TIMEOUT_SECONDS = 300;

/** The stage a step runs as: `script` → build_script, `after_script` → after_script, else `step_<name>`. */
export function stageForStep(stepName: string): StageName {
  if (stepName === "script") return "build_script";
  if (stepName === "after_script") return "after_script";
  return `step_${stepName}`;
}

/** The step a stage runs, or undefined for a stage that is not a step. */
export function stepForStage(job: Job, stage: StageName): JobStep | undefined {
  return job.steps.find((step) => stageForStep(step.name) === stage);
}

/** Whether a cache entry has anything to pack (paths or untracked files). */
export function cacheHasContent(cache: CacheSpec): boolean {
  return cache.paths.length > 0 || cache.untracked;
}

/** Caches restored before the steps: all but `policy: push`. */
export function cachesToRestore(job: Job): CacheSpec[] {
  return job.cache.filter((c) => c.policy !== "push" && cacheHasContent(c));
}

/** Caches archived after a successful (`on_success`) or failed (`on_failure`) job. */
export function cachesToArchive(job: Job, outcome: "on_success" | "on_failure"): CacheSpec[] {
  return job.cache.filter((c) => c.policy !== "pull" && cacheHasContent(c) && appliesTo(c.when, outcome));
}

/** The `artifacts:` entries uploaded after a successful (`on_success`) or failed (`on_failure`) job. */
export function artifactsToUpload(job: Job, outcome: "on_success" | "on_failure"): ArtifactSpec[] {
  return job.artifacts.filter((a) => appliesTo(a.when, outcome));
}

function appliesTo(when: When, outcome: "on_success" | "on_failure"): boolean {
  return when === "always" || when === outcome;
}

/**
 * The stages of `job`, in order. A stage with nothing to do is left out: a plain job (one `script`
 * step, no cache, no artifacts) plans exactly prepare_script, get_sources, build_script,
 * cleanup_file_variables. get_sources is always planned, even for GIT_STRATEGY=none, because it
 * prints "Skipping Git repository setup" and creates the project dir.
 *
 * `variables` are read for GET_SOURCES_ATTEMPTS, RESTORE_CACHE_ATTEMPTS, ARTIFACT_DOWNLOAD_ATTEMPTS,
 * RUNNER_SCRIPT_TIMEOUT and RUNNER_AFTER_SCRIPT_TIMEOUT (last definition wins); pass the full list
 * when the runner's `environment` may set them, the job's own by default.
 */
export function planStages(job: Job, variables: readonly JobVariable[] = job.variables): PlannedStage[] {
  const table = variableTable(variables);
  const base = { when: "on_success", runsOnCancel: false, affectsStatus: true, attempts: 1 } as const;
  const plain = { ...base, timeoutSeconds: undefined, allowFailure: false };
  const sources = { ...plain, group: "sources" } as const;
  const post = { ...plain, group: "post" } as const;
  const stages: PlannedStage[] = [
    { ...plain, name: "prepare_script", group: "prepare_script" },
    { ...sources, name: "get_sources", attempts: attempts(table, "GET_SOURCES_ATTEMPTS") },
  ];
  if (cachesToRestore(job).length > 0) {
    stages.push({ ...sources, name: "restore_cache", attempts: attempts(table, "RESTORE_CACHE_ATTEMPTS") });
  }
  if (job.dependencies.some((d) => d.hasArtifacts)) {
    stages.push({
      ...sources,
      name: "download_artifacts",
      attempts: attempts(table, "ARTIFACT_DOWNLOAD_ATTEMPTS"),
    });
  }
  const scriptTimeout = positiveDuration(table, "RUNNER_SCRIPT_TIMEOUT");
  for (const step of job.steps) {
    if (step.name === "after_script") continue;
    stages.push({
      ...base,
      name: stageForStep(step.name),
      group: "steps",
      // GitLab runs the steps in order while the job succeeds and stops at the first failure,
      // whatever a step's `when` says (common/build.go executeScript).
      when: "on_success",
      timeoutSeconds: scriptTimeout ?? step.timeoutSeconds,
      allowFailure: step.allowFailure,
    });
  }
  const afterScript = job.steps.find((step) => step.name === "after_script");
  if (afterScript !== undefined && afterScript.script.length > 0) {
    stages.push({
      ...base,
      name: "after_script",
      group: "after_script",
      when: "always",
      runsOnCancel: true,
      affectsStatus: false,
      timeoutSeconds:
        positiveDuration(table, "RUNNER_AFTER_SCRIPT_TIMEOUT") ?? DEFAULT_AFTER_SCRIPT_TIMEOUT_SECONDS,
      allowFailure: afterScript.allowFailure,
    });
  }
  if (cachesToArchive(job, "on_success").length > 0) {
    stages.push({ ...post, name: "archive_cache", affectsStatus: false });
  }
  if (cachesToArchive(job, "on_failure").length > 0) {
    stages.push({ ...post, name: "archive_cache_on_failure", when: "on_failure", affectsStatus: false });
  }
  if (artifactsToUpload(job, "on_success").length > 0) {
    stages.push({ ...post, name: "upload_artifacts_on_success" });
  }
  if (artifactsToUpload(job, "on_failure").length > 0) {
    stages.push({ ...post, name: "upload_artifacts_on_failure", when: "on_failure" });
  }
  stages.push({
    ...post,
    name: "cleanup_file_variables",
    when: "always",
    runsOnCancel: true,
    affectsStatus: false,
  });
  return stages;
}

/** An attempts variable: an integer 1..10, anything else (absent, "0", "11", "x") means 1. */
function attempts(table: VariableTable, key: string): number {
  const text = variableValue(table, key)?.trim() ?? "";
  if (!/^[0-9]{1,2}$/.test(text)) return 1;
  const n = Number(text);
  return n >= 1 && n <= 10 ? n : 1;
}

function positiveDuration(table: VariableTable, key: string): number | undefined {
  const text = variableValue(table, key);
  const seconds = text === undefined ? undefined : parseDuration(text);
  return seconds !== undefined && seconds > 0 ? seconds : undefined;
}
