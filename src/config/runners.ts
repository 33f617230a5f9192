/**
 * One `[[runners]]` section → RunnerConfig. A GitLab Runner section for the shell or custom executor
 * is accepted as-is (SPEC §4); drover adds `executor = "plugin"` with `[runners.plugin]`.
 */
import { optional, TableReader, tableToJson } from "./fields.ts";
import {
  type CustomConfig,
  Defaults,
  type EnvPair,
  type Executor,
  type JsonObject,
  type PluginRef,
  type RunnerConfig,
} from "./model.ts";
import { readPluginRef } from "./plugin-ref.ts";

const executors: readonly Executor[] = ["shell", "custom", "plugin"];

/**
 * GitLab Runner keys and tables that mean nothing to drover (other executors, autoscaling, remote
 * cache, registration bookkeeping): accepted without a warning, so a GitLab file checks clean.
 */
const gitlabIgnored = [
  "id",
  "token_obtained_at",
  "token_expires_at",
  "cache",
  "docker",
  "feature_flags",
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
    ...optional("url", readUrl(r)),
    ...optional("token", r.string("token")),
    ...optional("buildsDir", r.string("builds_dir")),
    ...optional("cacheDir", r.string("cache_dir")),
    ...optional("shell", r.string("shell")),
    environment: readEnvironment(r),
    requestConcurrency: r.positiveOrDefault("request_concurrency", Defaults.requestConcurrency),
    outputLimitBytes: r.positiveOrDefault("output_limit", Defaults.outputLimitKiB) * 1024,
    section: tableToJson(r.table, r.path, problems) ?? {},
    line: problems.lineOf(r.path) ?? 0,
  };
  r.ignore(...gitlabIgnored);

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
      if (customTable === undefined) {
        // Wording from GitLab Runner (SPEC §7).
        problems.error(r.at("custom"), "custom executor not configured");
        return undefined;
      }
      const custom = readCustom(new TableReader(problems, r.at("custom"), customTable));
      return custom === undefined ? undefined : { ...base, executor, custom };
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

function readUrl(r: TableReader): string | undefined {
  const url = r.string("url");
  if (url === undefined) return undefined;
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (parsed?.protocol !== "http:" && parsed?.protocol !== "https:") {
    r.problems.error(r.at("url"), `expected an http(s) URL, got ${JSON.stringify(url)}`);
  }
  return url;
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

/** `[runners.custom]`, with GitLab's defaults: a timeout ≤0 means the default, not an error. */
function readCustom(r: TableReader): CustomConfig | undefined {
  const exec = (key: string) => {
    const value = r.string(key);
    return value === "" ? undefined : value; // GitLab: "" is "not set"
  };
  const runExec = exec("run_exec");
  const config: Omit<CustomConfig, "runExec"> = {
    ...optional("configExec", exec("config_exec")),
    configArgs: r.stringArray("config_args") ?? [],
    configExecTimeoutSeconds: r.positiveOrDefault("config_exec_timeout", Defaults.execTimeoutSeconds),
    ...optional("prepareExec", exec("prepare_exec")),
    prepareArgs: r.stringArray("prepare_args") ?? [],
    prepareExecTimeoutSeconds: r.positiveOrDefault("prepare_exec_timeout", Defaults.execTimeoutSeconds),
    runArgs: r.stringArray("run_args") ?? [],
    ...optional("cleanupExec", exec("cleanup_exec")),
    cleanupArgs: r.stringArray("cleanup_args") ?? [],
    cleanupExecTimeoutSeconds: r.positiveOrDefault("cleanup_exec_timeout", Defaults.execTimeoutSeconds),
    gracefulKillTimeoutSeconds: r.positiveOrDefault(
      "graceful_kill_timeout",
      Defaults.gracefulKillTimeoutSeconds,
    ),
    forceKillTimeoutSeconds: r.positiveOrDefault("force_kill_timeout", Defaults.forceKillTimeoutSeconds),
  };
  r.finish();
  if (runExec === undefined) {
    // Not when run_exec is there with a wrong type: that already has its own problem.
    const raw = r.get("run_exec");
    if (raw !== undefined && typeof raw !== "string") return undefined;
    r.problems.error(r.at("run_exec"), "custom executor is missing RunExec"); // GitLab's wording (SPEC §7)
    return undefined;
  }
  return { ...config, runExec };
}
