/**
 * The runner's `[runners.custom]` table, read on the plugin side from `runner_settings_json` (the
 * whole `[[runners]]` section as JSON, snake_case keys as in config.toml), with GitLab Runner's
 * defaults: a timeout that is absent, not a number or ≤0 means the default.
 *
 * `drover config check` already refuses a runner without the table or without `run_exec`; the checks
 * are repeated here, with GitLab's wording, because a plugin must not trust what it is handed.
 */
import { type CustomConfig, Defaults } from "../../src/config/model.ts";

export type CustomSettings = CustomConfig;

export type SettingsResult = { ok: true; settings: CustomSettings } | { ok: false; message: string };

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function readCustomSettings(runnerSettingsJson: string): SettingsResult {
  let section: unknown;
  try {
    section = JSON.parse(runnerSettingsJson || "{}");
  } catch {
    section = undefined;
  }
  const custom = isObject(section) ? section.custom : undefined;
  // GitLab Runner's wording (executors/custom/custom.go prepareConfig; SPEC §7).
  if (!isObject(custom)) return { ok: false, message: "custom executor not configured" };
  const runExec = exec(custom, "run_exec");
  if (runExec === undefined) return { ok: false, message: "custom executor is missing RunExec" };
  const settings: CustomSettings = {
    runExec,
    runArgs: args(custom, "run_args"),
    configArgs: args(custom, "config_args"),
    configExecTimeoutSeconds: seconds(custom, "config_exec_timeout", Defaults.execTimeoutSeconds),
    prepareArgs: args(custom, "prepare_args"),
    prepareExecTimeoutSeconds: seconds(custom, "prepare_exec_timeout", Defaults.execTimeoutSeconds),
    cleanupArgs: args(custom, "cleanup_args"),
    cleanupExecTimeoutSeconds: seconds(custom, "cleanup_exec_timeout", Defaults.execTimeoutSeconds),
    gracefulKillTimeoutSeconds: seconds(custom, "graceful_kill_timeout", Defaults.gracefulKillTimeoutSeconds),
    forceKillTimeoutSeconds: seconds(custom, "force_kill_timeout", Defaults.forceKillTimeoutSeconds),
  };
  const configExec = exec(custom, "config_exec");
  const prepareExec = exec(custom, "prepare_exec");
  const cleanupExec = exec(custom, "cleanup_exec");
  if (configExec !== undefined) settings.configExec = configExec;
  if (prepareExec !== undefined) settings.prepareExec = prepareExec;
  if (cleanupExec !== undefined) settings.cleanupExec = cleanupExec;
  return { ok: true, settings };
}

/** An executable path; "" is "not set", as in GitLab. */
function exec(table: Obj, key: string): string | undefined {
  const value = table[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function args(table: Obj, key: string): string[] {
  const value = table[key];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

function seconds(table: Obj, key: string, fallback: number): number {
  const value = table[key];
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : fallback;
}
