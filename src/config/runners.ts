/**
 * One `[[runners]]` section → RunnerConfig. A GitLab Runner section for the shell or custom executor
 * is accepted as-is (docs/configuration.md); drover adds `executor = "plugin"` with `[runners.plugin]`.
 */

import { BUILTIN_PLUGINS } from "../../plugins/catalog.ts";
import { optional, TableReader, tableToJson } from "./fields.ts";
import {
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
    ...optional("allowLocalRepositories", r.boolean("allow_local_repositories")),
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
