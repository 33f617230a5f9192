/**
 * The job model: what drover knows about one CI job once its description has been read.
 *
 * The shapes follow GitLab's `POST /api/v4/jobs/request` answer (docs/jobs.md), normalised: every optional
 * field has its GitLab default, ids are strings, `null` never appears. `parseJob` (parse.ts) and
 * `adHocJob` (adhoc.ts) are the only producers; everything else reads.
 */

import type { RunnerScripts } from "../config/model.ts";
import type { FeatureFlags } from "./feature-flags.ts";

/** When a step, cache or artifact applies, relative to the job's outcome so far. */
export type When = "on_success" | "on_failure" | "always";

/** A job variable as GitLab sends it. `raw` values are never expanded; `file` values become files. */
export interface JobVariable {
  key: string;
  value: string;
  public: boolean;
  masked: boolean;
  file: boolean;
  raw: boolean;
}

/** One `steps[]` entry. `name` is "script", "after_script" or another step name (e.g. "release"). */
export interface JobStep {
  name: string;
  script: string[];
  timeoutSeconds: number | undefined;
  when: When;
  allowFailure: boolean;
}

export interface GitInfo {
  repoUrl: string;
  ref: string;
  sha: string;
  beforeSha: string;
  /** "branch" or "tag" from GitLab; kept as given. */
  refType: string;
  /** Never empty: GitLab's defaults are filled in by the parser when the payload has none. */
  refspecs: string[];
  /** 0 = full history. */
  depth: number;
}

export type CachePolicy = "pull-push" | "pull" | "push";

export interface CacheSpec {
  /**
   * As the payload has it, unexpanded; expanded and checked when a script is rendered. "" when the
   * payload has none: gitlab-runner's default, `<job name>/<ref>` (GitLab itself sends "default").
   */
  key: string;
  /** `cache:fallback_keys`: tried in order when `key` has no cache (expanded like `key`). */
  fallbackKeys: string[];
  paths: string[];
  policy: CachePolicy;
  when: When;
  untracked: boolean;
}

/**
 * An `artifacts[]` entry: what the upload stages archive and where they send it (docs/jobs.md,
 * "Artifacts and caches"); `name`, `paths` and `exclude` are expanded by the helper where the job runs.
 */
export interface ArtifactSpec {
  name: string;
  paths: string[];
  exclude: string[];
  untracked: boolean;
  when: When;
  expireIn: string;
  artifactType: string;
  artifactFormat: string;
}

/** A `dependencies[]` entry: a job of the same pipeline whose artifacts this job downloads. */
export interface JobDependency {
  id: string;
  name: string;
  /** The token its artifacts are downloaded with (GitLab sends one per dependency); "" when none. */
  token: string;
  /** Whether the dependency has an artifacts archive to download. */
  hasArtifacts: boolean;
}

/**
 * A container image as the payload describes one: the job's `image:` and each of its `services:`
 * (GitLab's `Image`). Kept as given (unexpanded); plugins receive it in JobContext.
 */
export interface ImageSpec {
  name: string;
  /** One or several aliases separated by spaces or commas; "" when none. */
  alias: string;
  /** [] when the job does not override the image's ENTRYPOINT / CMD. */
  entrypoint: string[];
  command: string[];
  /** A service's own `variables:`. */
  variables: JobVariable[];
  /** "always", "if-not-present", "never"; [] for the executor's default. */
  pullPolicy: string[];
  ports: Array<{ number: number; protocol: string; name: string }>;
}

/** A job's `hooks:` (the `.gitlab-ci.yml` keyword): scripts run inside get_sources, around the fetch. */
export interface JobHooks {
  /** Before the fetch, after the runner's own pre_get_sources_script. */
  preGetSourcesScript: string[];
  /** After the checkout and submodules, before the runner's own post_get_sources_script. */
  postGetSourcesScript: string[];
}

/** The job payload's `features` object (what GitLab asks of this job's log). */
export interface JobFeatures {
  /** `trace_sections`: multi-line commands are shown as collapsible sections (FF_SCRIPT_SECTIONS). */
  traceSections: boolean;
  /** `token_mask_prefixes`: token prefixes masked in the log on top of GitLab's default list. */
  tokenMaskPrefixes: string[];
}

export interface Job {
  id: string;
  token: string;
  name: string;
  stage: string;
  projectId: number;
  /**
   * "namespace/project" (subgroups allowed): the CI_PROJECT_PATH variable, else the path of
   * `git_info.repo_url` without ".git", else `job_info.project_name`. Never contains "." or ".."
   * segments, so it is safe to join under the builds dir.
   */
  projectPath: string;
  /** Undefined when the payload has no `git_info`: get_sources then has nothing to fetch. */
  git: GitInfo | undefined;
  /** `runner_info.timeout`, default 3600. */
  timeoutSeconds: number;
  /** From the payload, in order (later entries override earlier ones with the same key). */
  variables: JobVariable[];
  steps: JobStep[];
  /** Undefined when the job names no image (GitLab sends `{"name": ""}` then). */
  image: ImageSpec | undefined;
  services: ImageSpec[];
  cache: CacheSpec[];
  artifacts: ArtifactSpec[];
  dependencies: JobDependency[];
  /** `hooks[]`: GitLab's job-level hook scripts (today `pre_get_sources_script`), by name. */
  hooks: JobHooks;
  /** The coordinator's `features` for this job: how the log is to be written and masked. */
  features: JobFeatures;
  /** The original parsed JSON (for `JOB_RESPONSE_FILE` and plugins that want more than drover reads). */
  payload: unknown;
  /** Set for `drover exec -- cmd` jobs: no repository, the project dir is `cwd`. */
  adHoc?: { cwd: string };
}

/** The run stages (docs/jobs.md). `step_<name>` is a step other than `script` and `after_script`. */
export type StageName =
  | "prepare_script"
  | "get_sources"
  | "restore_cache"
  | "download_artifacts"
  | `step_${string}`
  | "build_script"
  | "after_script"
  | "archive_cache"
  | "archive_cache_on_failure"
  | "upload_artifacts_on_success"
  | "upload_artifacts_on_failure"
  | "cleanup_file_variables";

/**
 * Where a stage belongs in GitLab's sequence (common/build.go executeScript), which decides what
 * still runs after a failure (outcome.ts `shouldRun`):
 *   prepare_script → sources (get_sources, restore_cache, download_artifacts) → steps (the job's
 *   steps, in order) → after_script → post (cache archiving, artifact uploads, file variables).
 */
export type StageGroup = "prepare_script" | "sources" | "steps" | "after_script" | "post";

/** One stage the engine will run, with everything it needs to decide whether and how. */
export interface PlannedStage {
  name: StageName;
  group: StageGroup;
  /** Run it when the job so far succeeded, failed, or in either case. */
  when: When;
  /** Still run after a graceful cancel (after_script, cleanup_file_variables). */
  runsOnCancel: boolean;
  /** False for stages whose failure never fails the job: after_script, cache archive, cleanup. */
  affectsStatus: boolean;
  /** 1..10: GET_SOURCES_ATTEMPTS, RESTORE_CACHE_ATTEMPTS, ARTIFACT_DOWNLOAD_ATTEMPTS; else 1. */
  attempts: number;
  /** RUNNER_SCRIPT_TIMEOUT (else the step's timeout) for steps, RUNNER_AFTER_SCRIPT_TIMEOUT (300) for after_script. */
  timeoutSeconds: number | undefined;
  /** A failing step with `allow_failure` does not fail the job (it is still reported). */
  allowFailure: boolean;
}

/** What a stage script needs to know about where it runs. */
export interface ScriptContext {
  projectDir: string;
  buildsDir: string;
  /** Undefined when no cache_dir is configured: cache stages then warn and do nothing. */
  cacheDir: string | undefined;
  /** The full list, predefined and extra environment included, in override order (last wins). */
  variables: JobVariable[];
  /** Where file variables are written; GitLab uses "<projectDir>.tmp". */
  tmpDir: string;
  /** Directories job_started hooks added to PATH (GITHUB_PATH), newest first. */
  pathPrepend?: readonly string[];
  /** Whether get_sources may fetch from `file://` URLs and paths (allow_local_repositories). */
  allowLocalRepositories?: boolean;
  /** Where the job's processes belong (src/process/containment.ts); none in unit tests. */
  containment?: { trackingId: string; cgroup: string };
  /** The job's feature flags; when not given, resolved from `variables` alone (no config.toml). */
  flags?: FeatureFlags;
  /**
   * Multi-line commands as collapsible sections (GitLab: FF_SCRIPT_SECTIONS and the job's
   * `features.trace_sections` both on); computed by the renderer when not given.
   */
  scriptSections?: boolean;
  /** The runner's scripts around the job's (config.toml). */
  runnerScripts?: RunnerScripts;
  /** config.toml's `clone_url`. */
  cloneUrl?: string;
  /**
   * How a stage script calls drover's helper commands (src/helper/) where the job runs: this
   * binary's path for the shell executor, `drover` (found on PATH) elsewhere; DROVER_HELPER in the
   * job's environment overrides it. Default "drover".
   */
  helper?: string;
  /** Where artifacts go and come from; none: the artifact stages say so and do nothing. */
  artifacts?: ArtifactsTarget;
}

/**
 * Where a job's artifacts go: the coordinator's artifacts API (`drover run`: the runner's `url`), or
 * a local directory (`drover exec --artifacts-dir`).
 */
export type ArtifactsTarget = { kind: "coordinator"; url: string } | { kind: "local"; dir: string };
