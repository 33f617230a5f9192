/**
 * The typed configuration drover runs with, after `validate.ts` has checked a config.toml (docs/configuration.md).
 *
 * Everything here is already defaulted and checked: a consumer never re-validates, never sees a TOML
 * value, and cannot hold a runner whose executor lacks its settings (the executor is the union's tag).
 * Key names are camelCase; the TOML names are in the comments. Durations keep the unit in the name.
 */

/** pino's levels. GitLab's `warning` and `panic` are accepted in the file and mapped to `warn`/`fatal`. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

/** GitLab Runner's `log_format` values. */
export type LogFormat = "runner" | "text" | "json";

/** A JSON value, as handed to plugins (settings, the raw runner section). */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export type JsonObject = { [key: string]: JsonValue };

export interface Config {
  /** `concurrent`: jobs at once, all runners together (GitLab's default 1). */
  concurrent: number;
  /** `log_level`; undefined when the file does not set it (the CLI flag or drover's default decides). */
  logLevel: LogLevel | undefined;
  /** `log_format`; undefined when not set. */
  logFormat: LogFormat | undefined;
  /** `plugin_handshake_timeout` (seconds in the file, default 10): launch + handshake of one plugin. */
  pluginHandshakeTimeoutMs: number;
  /** `check_interval` (GitLab: seconds between job requests in `drover run`, default 3, ≤0 = default). */
  checkIntervalSeconds: number;
  /** `shutdown_timeout` (GitLab: seconds to wait for jobs at shutdown, default 30, ≤0 = default). */
  shutdownTimeoutSeconds: number;
  /** `listen_address` (`host:port` for Prometheus metrics), undefined when not set. */
  listenAddress: string | undefined;
  /** `plugin_registry`: the npm registry of `npm:` plugin sources, with a trailing slash. */
  pluginRegistry: string;
  /** Never empty: with no file, or a file without `[[runners]]`, one default shell runner. */
  runners: RunnerConfig[];
  hooks: HooksConfig;
  /** The config file this came from; undefined for the built-in defaults. */
  source: string | undefined;
}

/** One `environment` entry, `"KEY=VALUE"` in the file. */
export interface EnvPair {
  key: string;
  value: string;
}

interface RunnerBase {
  /** `name`; optional in the file (as in GitLab), defaulted to `runner-<index>`. Unique. */
  name: string;
  /** `limit`: jobs at once for this runner; 0 = no limit. */
  limit: number;
  url?: string;
  /** `token`: the runner's authentication token (`glrt-...`), which `drover run` asks for jobs with. */
  token?: string;
  /**
   * `token_obtained_at`: when the token was obtained (registration, or its last rotation).
   * Undefined when the file does not say, or says Go's zero time (GitLab Runner's "not known").
   */
  tokenObtainedAt?: Date;
  /**
   * `token_expires_at`: when GitLab stops accepting the token; `drover run` rotates it before then
   * (src/daemon/token-rotation.ts). Undefined: it never expires (GitLab Runner writes
   * `0001-01-01T00:00:00Z`).
   */
  tokenExpiresAt?: Date;
  /**
   * Not a config.toml key: this host's system ID (`.runner_system_id` beside the file,
   * src/config/system-id.ts), which `drover run` attaches before it asks for jobs, so that GitLab
   * tells apart the hosts that share a token (GitLab Runner's `RunnerConfig.SystemID`, `toml:"-"`).
   */
  systemId?: string;
  buildsDir?: string;
  cacheDir?: string;
  shell?: string;
  environment: EnvPair[];
  /** `request_concurrency` (GitLab: parallel job requests, default 1, ≤0 = default). */
  requestConcurrency: number;
  /** `output_limit` (KiB in the file, GitLab's default 4096): job log size limit. */
  outputLimitBytes: number;
  /**
   * `unhealthy_requests_limit` (GitLab: job requests refused or unanswered in a row before `drover
   * run` counts the runner unhealthy; default 3, ≤0 = default). src/daemon/health.ts.
   */
  unhealthyRequestsLimit: number;
  /**
   * `unhealthy_interval` (GitLab: a Go duration such as "60s" or "1h30m"): how long an unhealthy
   * runner waits before asking again. drover's default is 60 s; GitLab Runner's is 60 min.
   */
  unhealthyIntervalMs: number;
  /** `job_status_final_update_retry_limit` (GitLab: tries of a job's final update; default 10, ≤0 = default). */
  finalUpdateRetryLimit: number;
  /**
   * `allow_local_repositories` (drover's): whether a job may fetch from `file://` URLs and paths.
   * Undefined: the command decides (`drover exec` yes, `drover run` no; docs/security.md).
   */
  allowLocalRepositories?: boolean;
  /** `id`: the runner's id at GitLab (registration writes it); CI_RUNNER_ID when no coordinator sends one. */
  id?: number;
  /** `[runners.feature_flags]`: GitLab's `FF_*` flags, which win over the job's variables. */
  featureFlags: Record<string, boolean>;
  /** The runner's own scripts around the job's (GitLab's `pre_get_sources_script`, ...). */
  scripts: RunnerScripts;
  /** `clone_url`: fetch from `<clone_url>/<project path>.git` instead of the job's repository URL. */
  cloneUrl?: string;
  /** Line of the runner's `[[runners]]` header; 0 for the built-in default runner (there is no file). */
  line: number;
}

/**
 * GitLab Runner's runner-level scripts (docs/jobs.md, "Runner scripts"), each a piece of bash as
 * written in config.toml, run where GitLab runs them: in get_sources before the fetch and after the
 * checkout, and inside every step's script before and after the job's commands.
 */
export interface RunnerScripts {
  preGetSources?: string;
  postGetSources?: string;
  preBuild?: string;
  postBuild?: string;
}

export type ShellRunner = RunnerBase & { executor: "shell" };
/** `settings` is `[runners.custom]` as JSON, checked by the custom executor plugin (plugins/catalog.ts). */
export type CustomRunner = RunnerBase & { executor: "custom"; settings: JsonObject };
export type PluginRunner = RunnerBase & { executor: "plugin"; plugin: PluginRef; settings: JsonObject };
export type RunnerConfig = ShellRunner | CustomRunner | PluginRunner;
export type Executor = RunnerConfig["executor"];

/** Which plugin: a file on disk (not installed), or an installed one picked by name and version range. */
export type PluginRef =
  | { kind: "path"; path: string /* absolute */ }
  | {
      kind: "installed";
      name: string;
      version?: string /* semver range */;
      /** Where `drover plugin sync` installs it from (a source specifier); drover run/exec never fetch. */
      source?: string;
    };

export interface HookScript {
  /** Absolute path of the script. */
  path: string;
  /** Optional per-script timeout (a drover addition, docs/hooks.md). */
  timeoutSeconds?: number;
}

export interface LifecyclePluginConfig {
  ref: PluginRef;
  settings: JsonObject;
}

export interface HooksConfig {
  /** `[hooks] job_started`, in order. Does not include `ACTIONS_RUNNER_HOOK_JOB_STARTED`. */
  jobStarted: HookScript[];
  /** `[hooks] job_completed`, in order. Does not include `ACTIONS_RUNNER_HOOK_JOB_COMPLETED`. */
  jobCompleted: HookScript[];
  /** `[[hooks.plugins]]`: third-party lifecycle plugins. */
  plugins: LifecyclePluginConfig[];
  /** `pass_variables`: project variables hooks and lifecycle plugins may see (never masked ones). */
  passVariables: string[];
}

/** One thing wrong (error) or odd (warning) in a config file. */
export interface ConfigProblem {
  severity: "error" | "warning";
  file: string | undefined;
  line: number | undefined;
  /** Like `runners[1] ("lxd").custom.run_exec`; empty when the problem is about the whole file. */
  keyPath: string;
  message: string;
}

/** GitLab's and drover's defaults, in one place. */
export const Defaults = {
  concurrent: 1,
  pluginHandshakeTimeoutSeconds: 10,
  pluginRegistry: "https://registry.npmjs.org/",
  checkIntervalSeconds: 3,
  shutdownTimeoutSeconds: 30,
  requestConcurrency: 1,
  outputLimitKiB: 4096,
  /** GitLab Runner's `DefaultUnhealthyRequestsLimit`. */
  unhealthyRequestsLimit: 3,
  /**
   * 60 s, not GitLab Runner's 60 min (`DefaultUnhealthyInterval`), which its own docs say leaves
   * runners idle up to an hour after GitLab comes back (issue 15).
   */
  unhealthyIntervalSeconds: 60,
  /** GitLab Runner's `DefaultFinalUpdateRetryLimit`. */
  finalUpdateRetryLimit: 10,
} as const;

/** The runner used when the config has none: `drover exec -- 'echo hello'` works with no file (README.md, "Usage"). */
export function defaultRunner(): ShellRunner {
  return {
    name: "default",
    executor: "shell",
    limit: 0,
    environment: [],
    featureFlags: {},
    scripts: {},
    requestConcurrency: Defaults.requestConcurrency,
    outputLimitBytes: Defaults.outputLimitKiB * 1024,
    unhealthyRequestsLimit: Defaults.unhealthyRequestsLimit,
    unhealthyIntervalMs: Defaults.unhealthyIntervalSeconds * 1000,
    finalUpdateRetryLimit: Defaults.finalUpdateRetryLimit,
    line: 0,
  };
}

/** The configuration used when there is no config file at all. */
export function defaultConfig(): Config {
  return {
    concurrent: Defaults.concurrent,
    logLevel: undefined,
    logFormat: undefined,
    pluginHandshakeTimeoutMs: Defaults.pluginHandshakeTimeoutSeconds * 1000,
    checkIntervalSeconds: Defaults.checkIntervalSeconds,
    shutdownTimeoutSeconds: Defaults.shutdownTimeoutSeconds,
    listenAddress: undefined,
    pluginRegistry: Defaults.pluginRegistry,
    runners: [defaultRunner()],
    hooks: { jobStarted: [], jobCompleted: [], plugins: [], passVariables: [] },
    source: undefined,
  };
}
