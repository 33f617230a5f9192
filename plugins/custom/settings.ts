/**
 * The runner's `[runners.custom]` table, GitLab Runner's custom executor settings: the one place it
 * is read. drover's config check asks this module (through plugins/catalog.ts) for the problems of
 * every custom runner, with their key paths, so that `drover config check`, `drover exec` and
 * `drover run` refuse a bad table before any job runs; Configure reads the same table again from
 * `runner_settings_json` (a plugin does not trust what it is handed) and answers a configuration
 * error with the first problem.
 *
 * GitLab's rules: an executable of "" is "not set"; a timeout that is absent or ≤0 means the
 * default; `run_exec` is required ("custom executor is missing RunExec"), and so is the table
 * ("custom executor not configured"), both in GitLab's words. Unknown keys are warnings.
 *
 * @example
 * readCustomSettings({ run_exec: "/opt/lxd/run.sh", cleanup_exec_timeout: 0 })
 * // → { settings: { runExec: "/opt/lxd/run.sh", cleanupExecTimeoutSeconds: 3600, ... }, problems: [] }
 */
import type { SettingsProblem } from "@drover/plugin-sdk";

/** GitLab Runner's defaults for `[runners.custom]`, in seconds. */
export const CustomDefaults = {
  execTimeoutSeconds: 3600,
  gracefulKillTimeoutSeconds: 600,
  forceKillTimeoutSeconds: 10,
} as const;

export interface CustomSettings {
  configExec?: string;
  configArgs: string[];
  configExecTimeoutSeconds: number;
  prepareExec?: string;
  prepareArgs: string[];
  prepareExecTimeoutSeconds: number;
  runExec: string;
  runArgs: string[];
  cleanupExec?: string;
  cleanupArgs: string[];
  cleanupExecTimeoutSeconds: number;
  gracefulKillTimeoutSeconds: number;
  forceKillTimeoutSeconds: number;
}

export type SettingsRead =
  | { settings: CustomSettings; problems: SettingsProblem[] }
  | { settings: undefined; problems: SettingsProblem[] };

type Table = Record<string, unknown>;

const EXECUTABLES = ["config_exec", "prepare_exec", "run_exec", "cleanup_exec"] as const;
const ARGS = ["config_args", "prepare_args", "run_args", "cleanup_args"] as const;
const TIMEOUTS = [
  "config_exec_timeout",
  "prepare_exec_timeout",
  "cleanup_exec_timeout",
  "graceful_kill_timeout",
  "force_kill_timeout",
] as const;

/**
 * Reads `[runners.custom]` as JSON (undefined when the runner has no such table). `settings` is
 * there exactly when no problem is an error.
 */
export function readCustomSettings(table: unknown): SettingsRead {
  const problems: SettingsProblem[] = [];
  const error = (path: ReadonlyArray<string | number>, message: string) =>
    problems.push({ severity: "error", path, message });
  if (table === undefined || table === null) {
    error([], "custom executor not configured"); // GitLab's wording (executors/custom/custom.go)
    return { settings: undefined, problems };
  }
  if (!isTable(table)) {
    error([], `expected a table, got ${describe(table)}`);
    return { settings: undefined, problems };
  }
  const known = new Set<string>([...EXECUTABLES, ...ARGS, ...TIMEOUTS]);
  for (const key of Object.keys(table)) {
    if (!known.has(key)) problems.push({ severity: "warning", path: [key], message: "unknown key, ignored" });
  }

  const executable = (key: (typeof EXECUTABLES)[number]): string | undefined => {
    const value = table[key];
    if (value === undefined || value === "") return undefined; // GitLab: "" is "not set"
    if (typeof value === "string") return value;
    error([key], `expected a string, got ${describe(value)}`);
    return undefined;
  };
  const args = (key: (typeof ARGS)[number]): string[] => {
    const value = table[key];
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      error([key], `expected an array of strings, got ${describe(value)}`);
      return [];
    }
    value.forEach((item, i) => {
      if (typeof item !== "string") error([key, i], `expected a string, got ${describe(item)}`);
    });
    return value.filter((item): item is string => typeof item === "string");
  };
  const seconds = (key: (typeof TIMEOUTS)[number], fallback: number): number => {
    const value = table[key];
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isSafeInteger(value)) {
      error([key], `expected an integer, got ${describe(value)}`);
      return fallback;
    }
    return value > 0 ? value : fallback; // GitLab: ≤0 means the default
  };

  const runExec = executable("run_exec");
  const configExec = executable("config_exec");
  const prepareExec = executable("prepare_exec");
  const cleanupExec = executable("cleanup_exec");
  const settings: Omit<CustomSettings, "runExec"> = {
    configArgs: args("config_args"),
    configExecTimeoutSeconds: seconds("config_exec_timeout", CustomDefaults.execTimeoutSeconds),
    prepareArgs: args("prepare_args"),
    prepareExecTimeoutSeconds: seconds("prepare_exec_timeout", CustomDefaults.execTimeoutSeconds),
    runArgs: args("run_args"),
    cleanupArgs: args("cleanup_args"),
    cleanupExecTimeoutSeconds: seconds("cleanup_exec_timeout", CustomDefaults.execTimeoutSeconds),
    gracefulKillTimeoutSeconds: seconds("graceful_kill_timeout", CustomDefaults.gracefulKillTimeoutSeconds),
    forceKillTimeoutSeconds: seconds("force_kill_timeout", CustomDefaults.forceKillTimeoutSeconds),
    ...(configExec === undefined ? {} : { configExec }),
    ...(prepareExec === undefined ? {} : { prepareExec }),
    ...(cleanupExec === undefined ? {} : { cleanupExec }),
  };
  // Not when run_exec is there with a wrong type: that already has its own problem.
  if (runExec === undefined && (table.run_exec === undefined || table.run_exec === "")) {
    error(["run_exec"], "custom executor is missing RunExec"); // GitLab's wording
  }
  if (runExec === undefined || problems.some((p) => p.severity === "error")) {
    return { settings: undefined, problems };
  }
  return { settings: { ...settings, runExec }, problems };
}

function isTable(value: unknown): value is Table {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A JSON value as a message shows it after "got", in TOML's words: `integer 3`, `string "x"`, `table`. */
function describe(value: unknown): string {
  if (typeof value === "string") {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return `string ${JSON.stringify(shown)}`;
  }
  if (typeof value === "number") return Number.isInteger(value) ? `integer ${value}` : `float ${value}`;
  if (typeof value === "boolean") return `boolean ${value}`;
  if (Array.isArray(value)) return "array";
  if (value === null) return "null";
  return "table";
}
