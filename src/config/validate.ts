/**
 * The parsed TOML document → Config, collecting every problem rather than stopping at the first
 * (docs/configuration.md: `drover config check` prints them all).
 */
import type { TomlTable } from "smol-toml";
import { describe, isTable, TableReader } from "./fields.ts";
import { readHooks } from "./hooks.ts";
import {
  type Config,
  Defaults,
  defaultRunner,
  type LogFormat,
  type LogLevel,
  type RunnerConfig,
} from "./model.ts";
import type { ProblemList } from "./problems.ts";
import { readRunner } from "./runners.ts";

/** logrus's level names (GitLab's `log_level`) and pino's, to pino's. */
const logLevels = new Map<string, LogLevel>([
  ["trace", "trace"],
  ["debug", "debug"],
  ["info", "info"],
  ["warn", "warn"],
  ["warning", "warn"],
  ["error", "error"],
  ["fatal", "fatal"],
  ["panic", "fatal"],
]);
const logFormats: readonly LogFormat[] = ["runner", "text", "json"];

/** Returns the Config when `problems` has no error afterwards, else undefined. */
export function validateConfig(
  doc: TomlTable,
  problems: ProblemList,
  source: string | undefined,
): Config | undefined {
  const r = new TableReader(problems, [], doc);
  const concurrent =
    r.integer("concurrent", { min: 1, expected: "a positive integer" }) ?? Defaults.concurrent;
  const logLevel = readLogLevel(r);
  const logFormat = readLogFormat(r);
  const handshakeSeconds =
    r.positiveSeconds("plugin_handshake_timeout") ?? Defaults.pluginHandshakeTimeoutSeconds;
  const checkIntervalSeconds = r.positiveOrDefault("check_interval", Defaults.checkIntervalSeconds);
  const shutdownTimeoutSeconds = r.positiveOrDefault("shutdown_timeout", Defaults.shutdownTimeoutSeconds);
  const listenAddress = r.string("listen_address");
  const pluginRegistry = readPluginRegistry(r);
  r.ignore("session_server"); // GitLab's interactive web terminal: not supported, harmless
  const runners = readRunners(r);
  const hooksTable = r.subTable("hooks");
  const hooks = hooksTable
    ? readHooks(new TableReader(problems, ["hooks"], hooksTable))
    : { jobStarted: [], jobCompleted: [], plugins: [], passVariables: [] };
  r.finish();

  if (problems.hasErrors) return undefined;
  return {
    concurrent,
    logLevel,
    logFormat,
    pluginHandshakeTimeoutMs: Math.round(handshakeSeconds * 1000),
    checkIntervalSeconds,
    shutdownTimeoutSeconds,
    listenAddress,
    pluginRegistry,
    runners: runners.length > 0 ? runners : [defaultRunner()],
    hooks,
    source,
  };
}

/** `plugin_registry`: the npm registry `npm:` plugin sources come from; an http(s) URL. */
function readPluginRegistry(r: TableReader): string {
  const value = r.string("plugin_registry");
  if (value === undefined) return Defaults.pluginRegistry;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:") || url.username || url.password) {
    r.problems.error(
      r.at("plugin_registry"),
      `expected the http(s) URL of an npm registry without credentials (a token goes in DROVER_PLUGIN_REGISTRY_TOKEN), got ${JSON.stringify(value)}`,
    );
    return Defaults.pluginRegistry;
  }
  return url.href.endsWith("/") ? url.href : `${url.href}/`;
}

function readRunners(r: TableReader): RunnerConfig[] {
  const value = r.get("runners");
  if (value === undefined) return [];
  if (!Array.isArray(value)) return r.wrongType("runners", "an array of tables ([[runners]])", value) ?? [];
  const runners: RunnerConfig[] = [];
  const firstByName = new Map<string, number>();
  value.forEach((item, index) => {
    if (!isTable(item)) {
      r.problems.error(["runners", index], `expected a table ([[runners]]), got ${describe(item)}`);
      return;
    }
    const runner = readRunner(new TableReader(r.problems, ["runners", index], item), index);
    if (runner !== undefined) runners.push(runner);
    // Checked on the name as written, so a runner with other problems still gets this one too.
    const name = typeof item.name === "string" && item.name !== "" ? item.name : `runner-${index}`;
    const first = firstByName.get(name);
    if (first === undefined) {
      firstByName.set(name, index);
    } else {
      const line = r.problems.lineOf(["runners", first]);
      const where = line === undefined ? `runners[${first}]` : `runners[${first}] on line ${line}`;
      r.problems.error(
        ["runners", index, "name"],
        `duplicate runner name ${JSON.stringify(name)}: also used by ${where}`,
      );
    }
  });
  return runners;
}

function readLogLevel(r: TableReader): LogLevel | undefined {
  const value = r.string("log_level");
  if (value === undefined) return undefined;
  const level = logLevels.get(value.toLowerCase());
  if (level === undefined) {
    r.problems.error(
      r.at("log_level"),
      `unknown log level ${JSON.stringify(value)}: expected trace, debug, info, warn, error or fatal`,
    );
  }
  return level;
}

function readLogFormat(r: TableReader): LogFormat | undefined {
  const value = r.string("log_format");
  if (value === undefined) return undefined;
  const format = logFormats.find((f) => f === value);
  if (format === undefined) {
    r.problems.error(
      r.at("log_format"),
      `unknown log format ${JSON.stringify(value)}: expected runner, text or json`,
    );
  }
  return format;
}
