/**
 * GitLab Runner's feature flags (docs.gitlab.com/runner/configuration/feature-flags): every `FF_*`
 * name GitLab Runner knows, with its default, resolved for one job as GitLab resolves them
 * (common/build.go `Settings`, `GetAllVariables`):
 *
 *   1. `[runners.feature_flags]` in config.toml wins;
 *   2. else the job's variables (the payload, then the runner's `environment`, then what the
 *      job_started hooks exported: drover's one override order), parsed as Go's `strconv.ParseBool`;
 *   3. else the flag's default.
 *
 * Every flag is then a job variable with its resolved value (`FF_SCRIPT_SECTIONS=false`, ...), in
 * front of all others, so scripts and custom executor drivers (`CUSTOM_ENV_FF_*`) see what GitLab's
 * do; a job variable of the same name no longer overrides it. drover acts on the flags that concern
 * what it does: FF_SCRIPT_SECTIONS, FF_ENABLE_JOB_CLEANUP, FF_MASK_ALL_DEFAULT_TOKENS,
 * FF_HASH_CACHE_KEYS (docs/jobs.md, "Feature flags"). The others concern executors drover does
 * not have (Docker, Kubernetes, Windows) and are passed on as they are.
 */
import type { JobVariable } from "./model.ts";
import { parseBool } from "./variables.ts";

/** name → default, in GitLab Runner's order (helpers/featureflags/flags.go). */
const DEFAULTS = {
  FF_NETWORK_PER_BUILD: false,
  FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY: false,
  FF_USE_DIRECT_DOWNLOAD: true,
  FF_SKIP_NOOP_BUILD_STAGES: true,
  FF_USE_FASTZIP: false,
  FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR: false,
  FF_ENABLE_BASH_EXIT_CODE_CHECK: false,
  FF_USE_WINDOWS_LEGACY_PROCESS_STRATEGY: false,
  FF_USE_NEW_BASH_EVAL_STRATEGY: false,
  FF_USE_POWERSHELL_PATH_RESOLVER: false,
  FF_USE_DYNAMIC_TRACE_FORCE_SEND_INTERVAL: false,
  FF_SCRIPT_SECTIONS: false,
  FF_ENABLE_JOB_CLEANUP: false,
  FF_KUBERNETES_HONOR_ENTRYPOINT: false,
  FF_POSIXLY_CORRECT_ESCAPES: false,
  FF_RESOLVE_FULL_TLS_CHAIN: false,
  FF_DISABLE_POWERSHELL_STDIN: false,
  FF_USE_POD_ACTIVE_DEADLINE_SECONDS: true,
  FF_USE_ADVANCED_POD_SPEC_CONFIGURATION: false,
  FF_SET_PERMISSIONS_BEFORE_CLEANUP: true,
  FF_SECRET_RESOLVING_FAILS_IF_MISSING: true,
  FF_PRINT_POD_EVENTS: false,
  FF_USE_GIT_BUNDLE_URIS: true,
  FF_USE_GIT_NATIVE_CLONE: false,
  FF_USE_DUMB_INIT_WITH_KUBERNETES_EXECUTOR: false,
  FF_USE_INIT_WITH_DOCKER_EXECUTOR: false,
  FF_LOG_IMAGES_CONFIGURED_FOR_JOB: false,
  FF_USE_DOCKER_AUTOSCALER_DIAL_STDIO: true,
  FF_CLEAN_UP_FAILED_CACHE_EXTRACT: false,
  FF_USE_WINDOWS_JOB_OBJECT: false,
  FF_TIMESTAMPS: true,
  FF_DISABLE_AUTOMATIC_TOKEN_ROTATION: false,
  FF_USE_LEGACY_GCS_CACHE_ADAPTER: false,
  FF_DISABLE_UMASK_FOR_KUBERNETES_EXECUTOR: false,
  FF_USE_LEGACY_S3_CACHE_ADAPTER: false,
  FF_GIT_URLS_WITHOUT_TOKENS: false,
  FF_WAIT_FOR_POD_TO_BE_REACHABLE: false,
  FF_MASK_ALL_DEFAULT_TOKENS: true,
  FF_EXPORT_HIGH_CARDINALITY_METRICS: false,
  FF_USE_FLEETING_ACQUIRE_HEARTBEATS: false,
  FF_USE_EXPONENTIAL_BACKOFF_STAGE_RETRY: true,
  FF_USE_ADAPTIVE_REQUEST_CONCURRENCY: true,
  FF_USE_GITALY_CORRELATION_ID: true,
  FF_USE_GIT_PROACTIVE_AUTH: false,
  FF_HASH_CACHE_KEYS: false,
  FF_ENABLE_JOB_INPUTS_INTERPOLATION: true,
  FF_USE_JOB_ROUTER: false,
  FF_SCRIPT_TO_STEP_MIGRATION: false,
} as const satisfies Record<`FF_${string}`, boolean>;

export type FeatureFlagName = keyof typeof DEFAULTS;

export const FEATURE_FLAG_NAMES = Object.keys(DEFAULTS) as FeatureFlagName[];

export function isFeatureFlag(name: string): name is FeatureFlagName {
  return Object.hasOwn(DEFAULTS, name);
}

/** One job's flags. */
export class FeatureFlags {
  readonly #values: ReadonlyMap<FeatureFlagName, boolean>;
  /** Values that did not parse, for the job log (GitLab: an error in its own log, and `false`). */
  readonly problems: readonly string[];

  private constructor(values: Map<FeatureFlagName, boolean>, problems: string[]) {
    this.#values = values;
    this.problems = problems;
  }

  /**
   * `configured`: `[runners.feature_flags]` (checked by the config reader); `variables`: the job's
   * variables in override order (the last definition of a name counts).
   */
  static resolve(
    configured: Readonly<Record<string, boolean>>,
    variables: readonly Pick<JobVariable, "key" | "value" | "file">[],
  ): FeatureFlags {
    const fromVariables = new Map<FeatureFlagName, string>();
    for (const v of variables) if (isFeatureFlag(v.key) && !v.file) fromVariables.set(v.key, v.value);
    const values = new Map<FeatureFlagName, boolean>();
    const problems: string[] = [];
    for (const name of FEATURE_FLAG_NAMES) {
      const configuredValue = configured[name];
      if (configuredValue !== undefined) {
        values.set(name, configuredValue);
        continue;
      }
      const text = fromVariables.get(name);
      if (text === undefined || text === "") {
        values.set(name, text === "" ? false : DEFAULTS[name]);
        continue;
      }
      const parsed = parseBool(text);
      if (parsed === undefined)
        problems.push(`${name}: ${JSON.stringify(text)} is not a boolean; using false`);
      values.set(name, parsed ?? false);
    }
    return new FeatureFlags(values, problems);
  }

  on(name: FeatureFlagName): boolean {
    return this.#values.get(name) ?? DEFAULTS[name];
  }

  /** Every flag as a public job variable with its resolved value, in GitLab's order. */
  variables(): JobVariable[] {
    return FEATURE_FLAG_NAMES.map((key) => ({
      key,
      value: String(this.on(key)),
      public: true,
      masked: false,
      file: false,
      raw: false,
    }));
  }

  /** GitLab's `feature flags:` header line: the flags that differ from their default ("" if none). */
  describeChanged(): string {
    return FEATURE_FLAG_NAMES.filter((name) => this.on(name) !== DEFAULTS[name])
      .map((name) => `${name}:${this.on(name)}`)
      .join(", ");
  }
}
