/**
 * What `config_exec` prints on stdout, read as GitLab Runner reads it (`json.Unmarshal` into
 * `api.ConfigExecOutput`, every field a pointer):
 *  - no output: no overrides;
 *  - unknown keys are ignored; `null` for a key means "not set"; key names match case-insensitively
 *    (Go's encoding/json does, so a driver printing `"Builds_Dir"` works on GitLab);
 *  - anything that is not a JSON object, or a known key with the wrong type, is an error, reported as
 *    `error while parsing JSON output: ...` (GitLab's prefix); the custom executor then fails the
 *    attempt as a system failure, and the whole prepare is retried.
 *
 * Beyond GitLab: output of only whitespace counts as no output (GitLab fails on a lone newline), and
 * `shell` is read (docs/custom-executor.md).
 *
 * @example
 * parseConfigOutput('{"builds_dir": "/builds", "driver": {"name": "lxd", "version": "1.0"}}')
 * // → { ok: true, overrides: { buildsDir: "/builds", driver: { name: "lxd", version: "1.0" } } }
 */

export interface ConfigOverrides {
  buildsDir?: string;
  cacheDir?: string;
  buildsDirIsShared?: boolean;
  hostname?: string;
  driver?: { name?: string; version?: string };
  jobEnv?: Record<string, string>;
  shell?: string;
}

export type ConfigOutputResult = { ok: true; overrides: ConfigOverrides } | { ok: false; message: string };

/** GitLab's prefix for every problem with config_exec's output. */
export const CONFIG_OUTPUT_ERROR = "error while parsing JSON output";

type FieldReader = (value: unknown, into: ConfigOverrides) => string | undefined;

const fields: Record<string, FieldReader> = {
  builds_dir: stringField((into, v) => {
    into.buildsDir = v;
  }),
  cache_dir: stringField((into, v) => {
    into.cacheDir = v;
  }),
  hostname: stringField((into, v) => {
    into.hostname = v;
  }),
  shell: stringField((into, v) => {
    into.shell = v;
  }),
  builds_dir_is_shared: (value, into) => {
    if (typeof value !== "boolean") return `expected a boolean, got ${describe(value)}`;
    into.buildsDirIsShared = value;
    return undefined;
  },
  driver: (value, into) => {
    if (!isObject(value)) return `expected an object, got ${describe(value)}`;
    const driver: { name?: string; version?: string } = {};
    for (const [key, v] of Object.entries(value)) {
      const name = key.toLowerCase();
      if ((name !== "name" && name !== "version") || v === null) continue;
      if (typeof v !== "string") return `${name}: expected a string, got ${describe(v)}`;
      driver[name] = v;
    }
    into.driver = driver;
    return undefined;
  },
  job_env: (value, into) => {
    if (!isObject(value)) return `expected an object of strings, got ${describe(value)}`;
    const env: Record<string, string> = {};
    for (const [key, v] of Object.entries(value)) {
      if (typeof v !== "string") return `${JSON.stringify(key)}: expected a string, got ${describe(v)}`;
      env[key] = v;
    }
    into.jobEnv = env;
    return undefined;
  },
};

export function parseConfigOutput(stdout: string): ConfigOutputResult {
  if (stdout.trim() === "") return { ok: true, overrides: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (err) {
    return { ok: false, message: `${CONFIG_OUTPUT_ERROR}: ${(err as Error).message}` };
  }
  // `null` decodes into Go's pointer struct as "nothing set".
  if (parsed === null) return { ok: true, overrides: {} };
  if (!isObject(parsed)) {
    return { ok: false, message: `${CONFIG_OUTPUT_ERROR}: expected a JSON object, got ${describe(parsed)}` };
  }
  const overrides: ConfigOverrides = {};
  for (const [key, value] of Object.entries(parsed)) {
    const name = key.toLowerCase();
    const read = Object.hasOwn(fields, name) ? fields[name] : undefined;
    if (read === undefined || value === null) continue;
    const problem = read(value, overrides);
    if (problem !== undefined) return { ok: false, message: `${CONFIG_OUTPUT_ERROR}: ${key}: ${problem}` };
  }
  return { ok: true, overrides };
}

function stringField(set: (into: ConfigOverrides, value: string) => void): FieldReader {
  return (value, into) => {
    if (typeof value !== "string") return `expected a string, got ${describe(value)}`;
    set(into, value);
    return undefined;
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value)}`;
}
