/**
 * One `[[runners]]` section → RunnerConfig. A GitLab Runner section for the shell or custom executor
 * is accepted as-is (docs/configuration.md); drover adds `executor = "plugin"` with `[runners.plugin]`.
 */

import { BUILTIN_PLUGINS } from "../../plugins/catalog.ts";
import { isFeatureFlag } from "../job/feature-flags.ts";
import { describe, optional, TableReader, tableToJson } from "./fields.ts";
import { GO_DURATION_EXPECTED, parseGoDuration } from "./go-duration.ts";
import {
  Defaults,
  type EnvPair,
  type Executor,
  type JsonObject,
  type PluginRef,
  type RunnerConfig,
  type RunnerScripts,
} from "./model.ts";
import { readPluginRef } from "./plugin-ref.ts";
import { readTokenTime } from "./token-time.ts";

const executors: readonly Executor[] = ["shell", "custom", "plugin"];

/**
 * GitLab Runner keys and tables that mean nothing to drover (other executors, autoscaling, remote
 * cache): accepted without a warning, so a GitLab file checks clean.
 */
const gitlabIgnored = [
  "cache",
  "docker",
  "kubernetes",
  "machine",
  "autoscaler",
  "instance",
  "ssh",
  "parallels",
  "virtualbox",
  "custom_build_dir",
  "referees",
];

/** Reads `r` (a `runners[index]` table); undefined when it cannot form a runner (problems recorded). */
export function readRunner(r: TableReader, index: number): RunnerConfig | undefined {
  const { problems } = r;
  const nameValue = r.get("name");
  if (typeof nameValue === "string" && nameValue !== "") problems.nameRunner(index, nameValue);
  let name = r.string("name");
  if (name === "") {
    problems.error(r.at("name"), "expected a non-empty string");
    name = undefined;
  }

  const base = {
    name: name ?? `runner-${index}`,
    limit: r.integer("limit", { min: 0, expected: "a non-negative integer" }) ?? 0,
    ...optional("url", readUrl(r, "url")),
    ...optional("token", r.string("token")),
    ...optional("tokenObtainedAt", readTokenTimeKey(r, "token_obtained_at")),
    ...optional("tokenExpiresAt", readTokenTimeKey(r, "token_expires_at")),
    ...optional("buildsDir", r.string("builds_dir")),
    ...optional("cacheDir", r.string("cache_dir")),
    ...optional("shell", readShell(r)),
    environment: readEnvironment(r),
    requestConcurrency: r.positiveOrDefault("request_concurrency", Defaults.requestConcurrency),
    outputLimitBytes: r.positiveOrDefault("output_limit", Defaults.outputLimitKiB) * 1024,
    unhealthyRequestsLimit: r.positiveOrDefault("unhealthy_requests_limit", Defaults.unhealthyRequestsLimit),
    unhealthyIntervalMs: readInterval(r, "unhealthy_interval") ?? Defaults.unhealthyIntervalSeconds * 1000,
    finalUpdateRetryLimit: r.positiveOrDefault(
      "job_status_final_update_retry_limit",
      Defaults.finalUpdateRetryLimit,
    ),
    ...optional("allowLocalRepositories", r.boolean("allow_local_repositories")),
    ...optional("id", r.integer("id", { min: 0, expected: "a non-negative integer" })),
    featureFlags: readFeatureFlags(r),
    scripts: readScripts(r),
    ...optional("cloneUrl", readUrl(r, "clone_url")),
    line: problems.lineOf(r.path) ?? 0,
  };
  r.ignore(...gitlabIgnored);
  checkDistributedCache(r);

  const executor = readExecutor(r);
  const customTable = r.subTable("custom");
  const pluginTable = r.subTable("plugin");
  // A leftover table of another executor is harmless (GitLab ignores it too) but worth a word.
  if (customTable !== undefined && executor !== undefined && executor !== "custom") {
    problems.warning(r.at("custom"), `ignored: executor is "${executor}"`);
  }
  if (pluginTable !== undefined && executor !== undefined && executor !== "plugin") {
    problems.warning(r.at("plugin"), `ignored: executor is "${executor}"`);
  }
  r.finish();

  switch (executor) {
    case undefined:
      return undefined;
    case "shell":
      return { ...base, executor };
    case "custom": {
      // [runners.custom] belongs to the custom executor plugin: it says what is wrong with it. (A
      // value that is not a table was reported by subTable above.)
      const raw = r.get("custom");
      if (raw !== undefined && customTable === undefined) return undefined;
      const settings = customTable && tableToJson(customTable, r.at("custom"), problems);
      if (customTable !== undefined && settings === undefined) return undefined; // not JSON-able: reported
      let ok = true;
      for (const problem of BUILTIN_PLUGINS.custom.checkSettings(settings)) {
        const path = r.at("custom", ...problem.path);
        if (problem.severity === "warning") problems.warning(path, problem.message);
        else {
          problems.error(path, problem.message);
          ok = false;
        }
      }
      return ok && settings !== undefined ? { ...base, executor, settings } : undefined;
    }
    case "plugin": {
      if (pluginTable === undefined) {
        problems.error(r.at("plugin"), "plugin executor not configured");
        return undefined;
      }
      const pr = new TableReader(problems, r.at("plugin"), pluginTable);
      const plugin: PluginRef | undefined = readPluginRef(pr);
      const settings: JsonObject = pr.json("settings") ?? {};
      pr.finish();
      return plugin === undefined ? undefined : { ...base, executor, plugin, settings };
    }
  }
}

/**
 * GitLab requires `executor`; drover defaults it to "shell" so the smallest useful config is
 * `[[runners]]` plus a name, matching the built-in default runner.
 */
function readExecutor(r: TableReader): Executor | undefined {
  const value = r.get("executor");
  if (value === undefined) return "shell";
  if (typeof value !== "string") return r.wrongType("executor", "a string", value);
  const executor = executors.find((e) => e === value);
  if (executor === undefined) {
    r.problems.error(
      r.at("executor"),
      `unknown executor ${JSON.stringify(value)}: drover supports shell, custom and plugin`,
    );
  }
  return executor;
}

/**
 * `token_obtained_at` / `token_expires_at`, as `drover register` and GitLab Runner write them
 * (src/config/token-time.ts). Go's zero time reads as "not set".
 */
function readTokenTimeKey(r: TableReader, key: "token_obtained_at" | "token_expires_at"): Date | undefined {
  const value = r.get(key);
  if (value === undefined) return undefined;
  const reading = readTokenTime(value);
  return reading.ok ? reading.time : r.wrongType(key, reading.expected, value);
}

/**
 * A GitLab duration key (`unhealthy_interval`) in ms: a Go duration string ("60s", "1h30m"),
 * src/config/go-duration.ts. Negative durations are refused: they would mean "never wait".
 */
function readInterval(r: TableReader, key: "unhealthy_interval"): number | undefined {
  const value = r.get(key);
  if (value === undefined) return undefined;
  const ms = typeof value === "string" ? parseGoDuration(value) : undefined;
  if (ms === undefined || ms < 0) return r.wrongType(key, GO_DURATION_EXPECTED, value);
  return ms;
}

function readUrl(r: TableReader, key: "url" | "clone_url"): string | undefined {
  const url = r.string(key);
  if (url === undefined) return undefined;
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (parsed?.protocol !== "http:" && parsed?.protocol !== "https:") {
    r.problems.error(r.at(key), `expected an http(s) URL, got ${JSON.stringify(url)}`);
  } else if (key === "clone_url" && (parsed.username || parsed.password || parsed.search || parsed.hash)) {
    // The job's token is added to it for each job; a credential or query of its own would be sent
    // to every project's fetch.
    r.problems.error(r.at(key), "expected a URL without credentials, query or fragment");
  }
  return url;
}

/**
 * `shell`: drover generates bash scripts, so "bash" is the one value it takes; GitLab's "sh"
 * (POSIX sh scripts), "pwsh" and "powershell" are refused here rather than run as bash.
 */
function readShell(r: TableReader): string | undefined {
  const shell = r.string("shell");
  if (shell !== undefined && shell !== "bash") {
    r.problems.error(
      r.at("shell"),
      `${JSON.stringify(shell)} is not supported: drover's job scripts are bash scripts (set "bash", or leave shell out)`,
    );
  }
  return shell;
}

/**
 * `[runners.cache]`: GitLab's distributed cache (`Type = "s3"`, `"gcs"`, `"azure"`) is refused
 * rather than silently ignored: drover keeps caches on the host, in `cache_dir`, as gitlab-runner
 * does without a `Type`. A table without a `Type` (gitlab-runner writes an empty one) is fine.
 */
function checkDistributedCache(r: TableReader): void {
  const table = r.subTable("cache");
  const type = table?.Type;
  if (table === undefined || type === undefined || type === "") return;
  if (typeof type !== "string") {
    r.problems.error(r.at("cache", "Type"), `expected a string, got ${describe(type)}`);
  } else {
    r.problems.error(
      r.at("cache", "Type"),
      `a distributed cache (${JSON.stringify(type)}) is not supported: drover keeps caches on this host, in cache_dir (remove Type, or the [runners.cache] table)`,
    );
  }
}

/**
 * `[runners.feature_flags]`: `FF_NAME = true|false`. A name GitLab Runner does not know is kept
 * out, with a warning (a typo would otherwise silently do nothing).
 */
function readFeatureFlags(r: TableReader): Record<string, boolean> {
  const table = r.subTable("feature_flags");
  if (table === undefined) return {};
  const flags: Record<string, boolean> = {};
  for (const [name, value] of Object.entries(table)) {
    if (typeof value !== "boolean") {
      r.problems.error(r.at("feature_flags", name), `expected true or false, got ${describe(value)}`);
    } else if (!isFeatureFlag(name)) {
      r.problems.warning(r.at("feature_flags", name), "not a GitLab Runner feature flag, ignored");
    } else {
      flags[name] = value;
    }
  }
  return flags;
}

/**
 * The runner-level scripts. GitLab's deprecated names `pre_clone_script` and `post_clone_script`
 * still work there; here too, with a warning that names the new key.
 */
function readScripts(r: TableReader): RunnerScripts {
  const scripts: RunnerScripts = {};
  const read = (key: string, deprecated?: string): string | undefined => {
    const value = r.string(key);
    if (deprecated === undefined) return value;
    const old = r.string(deprecated);
    if (old === undefined) return value;
    if (value !== undefined) {
      r.problems.warning(r.at(deprecated), `ignored: ${key} is set (${deprecated} is its deprecated name)`);
      return value;
    }
    r.problems.warning(r.at(deprecated), `deprecated: use ${key}`);
    return old;
  };
  const put = (field: keyof RunnerScripts, value: string | undefined) => {
    if (value !== undefined && value.trim() !== "") scripts[field] = value;
  };
  put("preGetSources", read("pre_get_sources_script", "pre_clone_script"));
  put("postGetSources", read("post_get_sources_script", "post_clone_script"));
  put("preBuild", read("pre_build_script"));
  put("postBuild", read("post_build_script"));
  return scripts;
}

function readEnvironment(r: TableReader): EnvPair[] {
  const entries = r.stringArray("environment") ?? [];
  const pairs: EnvPair[] = [];
  entries.forEach((entry, i) => {
    const eq = entry.indexOf("=");
    if (eq <= 0) {
      r.problems.error(r.at("environment", i), `expected "KEY=VALUE", got ${JSON.stringify(entry)}`);
    } else {
      pairs.push({ key: entry.slice(0, eq), value: entry.slice(eq + 1) });
    }
  });
  return pairs;
}
