/**
 * Where a job runs and what its scripts see, from the executor's answer to Configure: the builds,
 * project and cache dirs, and the job's variables in override order. Pure: the job engine
 * (job-run.ts) keeps the result and registers the masked values.
 */
import { hostname } from "node:os";
import { join, posix } from "node:path";
import type { JobConfig } from "../../kernel/gen/drover/plugin/v1/executor_pb.ts";
import type { RunnerConfig } from "../config/model.ts";
import { REVISION, VERSION } from "../version.ts";
import { type ExecutorIdentity, executorDefaults } from "./executor-identity.ts";
import { FeatureFlags, isFeatureFlag } from "./feature-flags.ts";
import type { StartedEffects } from "./lifecycle.ts";
import type { Job, JobVariable } from "./model.ts";
import { projectDirFor } from "./project.ts";
import { type CiJobStatus, predefinedVariables } from "./variables.ts";

/** Where the job's files go. Before Configure, every dir is "". */
export interface JobPlacement {
  buildsDir: string;
  projectDir: string;
  /** This project's caches: `<cache_dir>/<namespace>/<project>`; undefined without a cache_dir. */
  cacheDir: string | undefined;
  /**
   * Whether the job's environment outlives it (CI_SHARED_ENVIRONMENT) or is its own
   * (CI_DISPOSABLE_ENVIRONMENT): GitLab's shell and custom executors are shared; a plugin is shared
   * when it says its builds dir is (Configure's `builds_dir_is_shared`). Undefined before Configure.
   */
  sharedEnvironment: boolean | undefined;
}

export const UNPLACED: JobPlacement = {
  buildsDir: "",
  projectDir: "",
  cacheDir: undefined,
  sharedEnvironment: undefined,
};

export interface PlacementInput {
  job: Job;
  runner: RunnerConfig;
  executor: ExecutorIdentity;
  /** Configure's answer; its empty strings mean "no override". */
  config: JobConfig | undefined;
  concurrentProjectId: number;
}

/** The dirs of a job, or the configuration problem that leaves it nowhere to go. */
export function placeJob(input: PlacementInput): JobPlacement | { problem: string } {
  const { job, runner, executor, config } = input;
  const defaults = executorDefaults(executor);
  const buildsDir = config?.buildsDir || runner.buildsDir || defaults.buildsDir;
  if (!buildsDir) return { problem: "the builds_dir is not configured" }; // GitLab's wording
  if (config?.shell && config.shell !== "bash") {
    return {
      problem: `the executor asks for shell ${JSON.stringify(config.shell)}: drover's job scripts are bash scripts`,
    };
  }
  // `drover exec -- cmd` runs in the current directory only with the shell executor (README,
  // "Usage"): another executor's host or sandbox has its own file system, so the job goes under its
  // builds dir.
  const placed = job.adHoc && executor.kind !== "shell" ? withoutAdHoc(job) : job;
  const cacheRoot = config?.cacheDir || runner.cacheDir || defaults.cacheDir;
  const buildsDirIsShared = config?.buildsDirIsShared ?? defaults.buildsDirIsShared;
  return {
    buildsDir,
    sharedEnvironment: executor.kind === "plugin" ? buildsDirIsShared : true,
    // GitLab's local cache layout (common/build.go StartBuild): each project's caches under
    // <cache_dir>/<namespace>/<project>, so neither a cache's content nor its key crosses projects.
    cacheDir: cacheRoot === undefined ? undefined : posix.join(cacheRoot, job.projectPath),
    projectDir: projectDirFor(placed, buildsDir, {
      isShared: buildsDirIsShared,
      runnerShortToken: runnerShortToken(runner),
      concurrentProjectId: input.concurrentProjectId,
    }),
  };
}

function withoutAdHoc(job: Job): Job {
  const { adHoc: _, ...rest } = job;
  return rest;
}

export interface VariablesInput {
  job: Job;
  runner: RunnerConfig;
  placement: JobPlacement;
  slots: { concurrentId: number; concurrentProjectId: number };
  /** Configure's `hostname`, else this host's. */
  hostname: string | undefined;
  jobStatus: CiJobStatus;
  /** What the job_started hooks exported (GITHUB_ENV). */
  hookEffects: StartedEffects;
}

/**
 * The job's variables, in the order a later definition overrides an earlier one: GitLab's feature
 * flags with their resolved values (feature-flags.ts), the predefined variables, the payload's,
 * the runner's `environment`, then what the job_started hooks exported; the last three without
 * feature flags, which were resolved from them. (An executor's `job_env` is not among them: like
 * GitLab's custom executor, it is for the executor's own later calls, not the job's scripts.)
 */
export function jobVariables(input: VariablesInput): JobVariable[] {
  const defined = definedVariables(input);
  return [
    ...jobFeatureFlags(input).variables(),
    ...predefinedVariables(input.job, variableContext(input)),
    // A file variable keeps its place whatever its name (it is no flag; job-payload.ts counts on it).
    ...defined.filter((v) => v.file || !isFeatureFlag(v.key)),
  ];
}

/** The job's feature flags: config.toml's `[runners.feature_flags]`, else its variables. */
export function jobFeatureFlags(input: VariablesInput): FeatureFlags {
  return FeatureFlags.resolve(input.runner.featureFlags, definedVariables(input));
}

/** The variables someone defined (payload, runner, hooks), in override order. */
function definedVariables(input: VariablesInput): JobVariable[] {
  return [
    ...input.job.variables,
    ...input.runner.environment.map((pair) => plainVariable(pair.key, pair.value)),
    ...Object.entries(input.hookEffects.env).map(([key, value]) => plainVariable(key, value)),
  ];
}

/** The predefined variables alone, as drover derives them (what hooks may see: hook-context.ts). */
export function derivedVariables(input: VariablesInput): JobVariable[] {
  return predefinedVariables(input.job, variableContext(input));
}

function variableContext(input: VariablesInput) {
  const { runner, placement, slots } = input;
  return {
    buildsDir: placement.buildsDir,
    projectDir: placement.projectDir,
    concurrentId: slots.concurrentId,
    concurrentProjectId: slots.concurrentProjectId,
    runnerShortToken: runnerShortToken(runner),
    runnerName: runner.name,
    hostname: input.hostname || hostname(),
    jobStatus: input.jobStatus,
    runnerId: String(runner.id ?? 0),
    runnerVersion: VERSION,
    runnerRevision: REVISION,
    // Known before Configure for the shell and custom executors (always shared, as GitLab's).
    sharedEnvironment: placement.sharedEnvironment ?? (runner.executor === "plugin" ? undefined : true),
  };
}

function plainVariable(key: string, value: string): JobVariable {
  return { key, value, public: true, masked: false, file: false, raw: false };
}

/** GitLab's short token: the first 8 characters after the `glrt-` prefix; "local" without a token. */
export function runnerShortToken(runner: RunnerConfig): string {
  if (!runner.token) return "local";
  return runner.token.replace(/^glrt-/, "").slice(0, 8);
}

/**
 * Where file variables are written. GitLab keeps them beside the project dir (`<project>.tmp`); an
 * ad-hoc job's project dir is the user's own checkout, so its files go under the builds dir instead.
 */
export function fileVariablesDir(
  job: Job,
  executor: ExecutorIdentity,
  placement: JobPlacement,
  jobKey: string,
): string {
  return job.adHoc && executor.kind === "shell"
    ? join(placement.buildsDir, "tmp", `${jobKey}.tmp`)
    : `${placement.projectDir}.tmp`;
}
