/**
 * The shapes of GitLab's runner job API, as GitLab Runner sends them (common/network.go:
 * `JobRequest`, `VersionInfo`, `FeaturesInfo`, `UpdateJobRequest`, `JobTraceOutput`). Field names
 * are GitLab's JSON names; nothing else in drover sees them.
 */
import { arch, platform } from "node:os";
import type { RunnerConfig } from "../config/model.ts";
import { REVISION, VERSION } from "../version.ts";

/** What a runner reports for a job in `PUT /jobs/:id` (`running` while it runs, then the end state). */
export type JobState = "running" | "success" | "failed";

/**
 * What the runner can do, sent with every job request; GitLab refuses a job that needs a feature the
 * runner lacks (`runner_unsupported`) rather than sending it. Every key is always sent, as
 * GitLab Runner's Go struct does.
 */
export interface FeaturesInfo {
  variables: boolean;
  image: boolean;
  services: boolean;
  artifacts: boolean;
  cache: boolean;
  fallback_cache_keys: boolean;
  shared: boolean;
  upload_multiple_artifacts: boolean;
  upload_raw_artifacts: boolean;
  session: boolean;
  terminal: boolean;
  refspecs: boolean;
  masking: boolean;
  proxy: boolean;
  raw_variables: boolean;
  artifacts_exclude: boolean;
  multi_build_steps: boolean;
  trace_reset: boolean;
  trace_checksum: boolean;
  trace_size: boolean;
  vault_secrets: boolean;
  cancelable: boolean;
  return_exit_code: boolean;
  service_variables: boolean;
  service_multiple_aliases: boolean;
  image_executor_opts: boolean;
  service_executor_opts: boolean;
  cancel_gracefully: boolean;
  native_steps_integration: boolean;
}

export interface VersionInfo {
  name: string;
  version: string;
  revision: string;
  platform: string;
  architecture: string;
  executor: string;
  shell: string;
  features: FeaturesInfo;
  config: { gpus: string };
}

/** `POST /api/v4/jobs/request`. */
export interface JobRequestBody {
  info: VersionInfo;
  token: string;
  /** This host's system ID (`.runner_system_id`): GitLab tells apart the hosts sharing a token by it. */
  system_id?: string;
  /** The `X-GitLab-Last-Update` header of the previous answer: lets GitLab long-poll. */
  last_update?: string;
}

/** `PUT /api/v4/jobs/:id`. */
export interface UpdateJobBody {
  info: VersionInfo;
  token: string;
  state: JobState;
  failure_reason?: string;
  /** Deprecated duplicate of `output.checksum`, still sent by GitLab Runner for older GitLabs. */
  checksum?: string;
  output: { checksum: string; bytesize: number };
  exit_code?: number;
}

/** Node's architecture names → Go's GOARCH, which is what GitLab shows for a runner. */
const GOARCH: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm" };

/**
 * The `info` object of every request. The executor name is GitLab's: a plugin runner reports
 * `custom` (GitLab knows a fixed list of executor names and would show anything else as
 * "unknown"; a plugin is, to GitLab, what a custom executor is).
 */
export function versionInfo(runner: RunnerConfig): VersionInfo {
  const isolated = runner.executor !== "shell";
  return {
    name: "drover",
    version: VERSION,
    revision: REVISION,
    platform: platform(),
    architecture: GOARCH[arch()] ?? arch(),
    executor: runner.executor === "plugin" ? "custom" : runner.executor,
    shell: runner.shell ?? "bash",
    features: {
      variables: true,
      // The custom executor and plugins receive the image and services (CUSTOM_ENV_CI_JOB_IMAGE);
      // the shell executor runs on the host and cannot honour them.
      image: isolated,
      services: isolated,
      // Artifacts go through GitLab's artifacts API from where the job runs (drover's helper
      // commands: src/helper/), every format (zip, gzip, raw) and `exclude` included.
      artifacts: true,
      cache: true,
      fallback_cache_keys: true,
      // GitLab's shell and custom executors both say "shared" (CI_SHARED_ENVIRONMENT); a plugin
      // runs each job in an environment of its own unless it says otherwise.
      shared: runner.executor !== "plugin",
      upload_multiple_artifacts: true,
      upload_raw_artifacts: true,
      session: false,
      terminal: false,
      refspecs: true,
      masking: true,
      proxy: false,
      raw_variables: true,
      artifacts_exclude: true,
      multi_build_steps: true,
      trace_reset: true,
      trace_checksum: true,
      trace_size: true,
      vault_secrets: false,
      cancelable: true,
      return_exit_code: true,
      service_variables: isolated,
      service_multiple_aliases: false,
      image_executor_opts: false,
      service_executor_opts: false,
      cancel_gracefully: true,
      native_steps_integration: false,
    },
    config: { gpus: "" },
  };
}
