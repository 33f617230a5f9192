/**
 * Where a job runs and what its scripts see, from the executor's answer to Configure: the builds,
 * project and cache dirs, and the job's variables in override order. Pure: the job engine
 * (job-run.ts) keeps the result and registers the masked values.
 */
import { hostname } from "node:os";
import { join, posix } from "node:path";
import type { JobConfig } from "../../kernel/gen/drover/plugin/v1/executor_pb.ts";
import type { RunnerConfig } from "../config/model.ts";
import { type ExecutorIdentity, executorDefaults } from "./executor-identity.ts";
import type { StartedEffects } from "./lifecycle.ts";
import type { Job, JobVariable } from "./model.ts";
import { projectDirFor } from "./project.ts";
import { allVariables, predefinedVariables } from "./variables.ts";

/** Where the job's files go. Before Configure, every dir is "". */
export interface JobPlacement {
  buildsDir: string;
  projectDir: string;
  /** This project's caches: `<cache_dir>/<namespace>/<project>`; undefined without a cache_dir. */
  cacheDir: string | undefined;
}

export const UNPLACED: JobPlacement = { buildsDir: "", projectDir: "", cacheDir: undefined };

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
  // `drover exec -- cmd` runs in the current directory only with the shell executor (README,
  // "Usage"): another executor's host or sandbox has its own file system, so the job goes under its
  // builds dir.
  const placed = job.adHoc && executor.kind !== "shell" ? withoutAdHoc(job) : job;
  const cacheRoot = config?.cacheDir || runner.cacheDir || defaults.cacheDir;
  return {
    buildsDir,
    // GitLab's local cache layout (common/build.go StartBuild): each project's caches under
    // <cache_dir>/<namespace>/<project>, so neither a cache's content nor its key crosses projects.
    cacheDir: cacheRoot === undefined ? undefined : posix.join(cacheRoot, job.projectPath),
    projectDir: projectDirFor(placed, buildsDir, {
      isShared: config?.buildsDirIsShared ?? defaults.buildsDirIsShared,
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
  jobStatus: "running" | "success" | "failed" | "canceled";
  /** What the job_started hooks exported (GITHUB_ENV). */
  hookEffects: StartedEffects;
}

/**
 * The job's variables, in the order a later definition overrides an earlier one: predefined +
 * payload, then the runner's `environment`, then what the job_started hooks exported. (An executor's
 * `job_env` is not among them: like GitLab's custom executor, it is for the executor's own later
 * calls, not the job's scripts.)
 */
export function jobVariables(input: VariablesInput): JobVariable[] {
  const { job, runner } = input;
  return [
    ...allVariables(job, variableContext(input)),
    ...runner.environment.map((pair) => plainVariable(pair.key, pair.value)),
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
