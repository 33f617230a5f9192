/**
 * What the script-hooks plugin is told to run: JobContext.runner_settings_json, a JSON object
 *
 *   {
 *     "job_started":   [{ "path": "/opt/hooks/start.sh", "timeout_seconds": 60 }],
 *     "job_completed": [{ "path": "/opt/hooks/done.ps1" }]
 *   }
 *
 * Both lists are optional (missing = no scripts) and run in order. `path` is required (absolute,
 * checked when the script runs, so that the message lands in the job log); `timeout_seconds` is
 * optional, a positive number (fractions allowed), none meaning no timeout of its own. drover's
 * core builds it from ACTIONS_RUNNER_HOOK_JOB_STARTED / _COMPLETED followed by `[hooks]` in
 * config.toml (src/plugin/resolve.ts).
 */

export interface HookScriptSetting {
  path: string;
  timeout_seconds?: number;
}

export interface ScriptHooksSettings {
  job_started: HookScriptSetting[];
  job_completed: HookScriptSetting[];
}

export type SettingsResult = { ok: true; settings: ScriptHooksSettings } | { ok: false; message: string };

const KEYS = ["job_started", "job_completed"] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readScripts(value: unknown, key: string): HookScriptSetting[] | string {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return `"${key}" must be an array of { "path": ..., "timeout_seconds": ... }`;
  const scripts: HookScriptSetting[] = [];
  for (const [i, item] of value.entries()) {
    const at = `${key}[${i}]`;
    if (!isObject(item)) return `"${at}" must be an object with a "path"`;
    if (typeof item.path !== "string" || item.path === "") return `"${at}.path" must be a non-empty string`;
    const timeout = item.timeout_seconds;
    if (timeout === undefined || timeout === null) {
      scripts.push({ path: item.path });
    } else if (typeof timeout === "number" && Number.isFinite(timeout) && timeout > 0) {
      scripts.push({ path: item.path, timeout_seconds: timeout });
    } else {
      return `"${at}.timeout_seconds" must be a positive number of seconds, got ${JSON.stringify(timeout)}`;
    }
  }
  return scripts;
}

/** Reads the settings; an empty string means no scripts. Never throws. */
export function parseScriptHooksSettings(json: string): SettingsResult {
  const fail = (detail: string): SettingsResult => ({
    ok: false,
    message: `script-hooks: invalid runner settings: ${detail}`,
  });
  if (json.trim() === "") return { ok: true, settings: { job_started: [], job_completed: [] } };
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    return fail(`not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(value))
    return fail('expected an object like { "job_started": [...], "job_completed": [...] }');
  const settings: ScriptHooksSettings = { job_started: [], job_completed: [] };
  for (const key of KEYS) {
    const scripts = readScripts(value[key], key);
    if (typeof scripts === "string") return fail(scripts);
    settings[key] = scripts;
  }
  return { ok: true, settings };
}
