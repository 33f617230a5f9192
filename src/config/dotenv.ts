/**
 * The runner's `.env`: variables an administrator gives drover's own environment in a file beside
 * config.toml, as GitHub's runner reads `<runner root>/.env` when its listener starts
 * (actions/runner src/Runner.Listener/Program.cs, `LoadAndSetEnv`; GitHub documents it for proxy
 * settings, and hook scripts are often named there: ACTIONS_RUNNER_HOOK_JOB_STARTED=...). drover
 * reads `.env` beside the config file in effect when `drover exec` and `drover run` start, and again
 * on every `drover run` reload, before any plugin is launched: hooks, plugins and jobs see its
 * variables as the administrator's environment (docs/configuration.md, docs/hooks.md).
 *
 * GitHub's rules, kept: one `NAME=value` per line (lines end at "\n", "\r\n" or "\r"; a UTF-8 BOM
 * is skipped); the name is everything before the first `=` and the value everything after it,
 * nothing trimmed, no quotes or escapes; a line without `=`, or starting with `=`, is ignored; an
 * empty value (`NAME=`) removes the variable; a value in the file replaces what drover's
 * environment has (GitHub sets every variable unconditionally).
 *
 * Where drover differs, deliberately (docs/hooks.md, "Differences from GitHub's runner"):
 *  - a line starting with `#` (after white space) is a comment. GitHub would set a variable named
 *    `#http_proxy` for a commented-out `#http_proxy=...`;
 *  - the variables that steer drover's own machinery are left alone, with a warning (DROVER_CONFIG
 *    would change which file the next reload reads, DROVER_PROCESS_TAG and DROVER_JOB_TRACKING_ID
 *    what the leftover sweeps kill, the plugin-protocol variables the plugins' handshake), as are
 *    NUL characters, which no environment can hold. Settings such as DROVER_PLUGIN_DIR are fine;
 *  - the file must pass config.toml's trust rule (kernel/files/trusted-path.ts: one another local
 *    user could change is refused, a group-writable one warned about): what it sets decides which
 *    hooks run and what every process drover starts gets;
 *  - a reload starts from the environment drover had before the previous `.env`: a line removed
 *    from the file no longer applies.
 *
 * @example
 * // /etc/drover/.env beside /etc/drover/config.toml
 * // https_proxy=http://proxy.internal:3128
 * // ACTIONS_RUNNER_HOOK_JOB_STARTED=/opt/hooks/start.sh
 * const { file, names, warnings } = loadDotenv("/etc/drover/config.toml");
 */
import { readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { DroverError } from "../../kernel/errors.ts";
import { JOB_TRACKING_ENV, PROCESS_TAG_ENV } from "../../kernel/process/env.ts";
import { MAGIC_COOKIE_KEY, PROTOCOL_VERSIONS_ENV, SOCKET_DIR_ENV } from "../../kernel/protocol/handshake.ts";
import { configFileTrust } from "./file-trust.ts";
import type { ConfigProblem } from "./model.ts";

export interface DotenvVariable {
  name: string;
  /** undefined: `NAME=` removes the variable. */
  value: string | undefined;
  /** 1-based. */
  line: number;
}

export interface ParsedDotenv {
  /** In file order; a later line for the same name wins. */
  variables: DotenvVariable[];
  /** Lines left out on purpose (a name that steers drover, a NUL character). */
  skipped: Array<{ line: number; message: string }>;
}

export interface DotenvResult {
  /** The file read, or undefined when there is none (no config file, or no `.env` beside it). */
  file: string | undefined;
  /** The names it set or removed, in file order (values are not logged: they may be secrets). */
  names: string[];
  /** For drover's log, as config warnings are. */
  warnings: ConfigProblem[];
}

/** Names that steer drover's own machinery: a `.env` does not get to change them under it. */
const STEERING: ReadonlySet<string> = new Set([
  "DROVER_CONFIG",
  PROCESS_TAG_ENV,
  JOB_TRACKING_ENV,
  MAGIC_COOKIE_KEY,
  PROTOCOL_VERSIONS_ENV,
  SOCKET_DIR_ENV,
]);

/** Reads `.env` text by GitHub's rules, with drover's differences (see above). Never throws. */
export function parseDotenv(text: string): ParsedDotenv {
  const parsed: ParsedDotenv = { variables: [], skipped: [] };
  const lines = (text.startsWith("\uFEFF") ? text.slice(1) : text).split(/\r\n|\r|\n/);
  for (const [index, line] of lines.entries()) {
    const number = index + 1;
    if (/^\s*#/.test(line)) continue;
    const equals = line.indexOf("=");
    if (equals <= 0) continue;
    const name = line.slice(0, equals);
    const value = line.slice(equals + 1);
    if (STEERING.has(name)) {
      parsed.skipped.push({ line: number, message: `${name} steers drover itself: left unchanged` });
    } else if (name.includes("\0") || value.includes("\0")) {
      parsed.skipped.push({
        line: number,
        message: `${name.replaceAll("\0", "\\0")}: a NUL character cannot be in an environment variable: ignored`,
      });
    } else {
      parsed.variables.push({ name, value: value === "" ? undefined : value, line: number });
    }
  }
  return parsed;
}

/** For each environment object, the values the last `.env` replaced: a reload puts them back first. */
const replaced = new WeakMap<Record<string, string | undefined>, Map<string, string | undefined>>();

function setOrRemove(env: Record<string, string | undefined>, name: string, value: string | undefined): void {
  if (value === undefined) delete env[name];
  else env[name] = value;
}

/**
 * Reads `.env` beside `configFile` into `env` (drover's own environment by default), after undoing
 * what the previous call did to `env`. Nothing changes when the file cannot be used: a `.env`
 * another user could change, or one that cannot be read, is a configuration error (thrown, as for
 * config.toml); no `.env`, or no config file, means no variables.
 */
export function loadDotenv(
  configFile: string | undefined,
  env: Record<string, string | undefined> = process.env,
): DotenvResult {
  const file = configFile === undefined ? undefined : join(dirname(configFile), ".env");
  const read = file === undefined ? undefined : readDotenvFile(file);

  // A reload starts from the environment drover had before the previous .env.
  for (const [name, value] of replaced.get(env) ?? []) setOrRemove(env, name, value);
  replaced.delete(env);
  if (file === undefined || read === undefined) return { file: undefined, names: [], warnings: [] };

  const originals = new Map<string, string | undefined>();
  for (const variable of read.parsed.variables) {
    if (!originals.has(variable.name)) originals.set(variable.name, env[variable.name]);
    setOrRemove(env, variable.name, variable.value);
  }
  replaced.set(env, originals);
  const warning = (message: string, line?: number): ConfigProblem => ({
    severity: "warning",
    file,
    line,
    keyPath: "",
    message,
  });
  return {
    file,
    names: read.parsed.variables.map((v) => v.name),
    warnings: [
      ...read.trustWarnings.map((message) => warning(message)),
      ...read.parsed.skipped.map((s) => warning(s.message, s.line)),
    ],
  };
}

/** The file's variables, or undefined when there is no such file; throws when it may not be used. */
function readDotenvFile(file: string): { parsed: ParsedDotenv; trustWarnings: string[] } | undefined {
  const refuse = (reason: string, cause?: unknown) =>
    new DroverError(
      "config_invalid",
      `cannot use ${JSON.stringify(file)}: ${reason}`,
      { file },
      cause === undefined ? {} : { cause },
    );
  try {
    if (!statSync(file).isFile()) throw refuse("not a regular file");
  } catch (err) {
    if (DroverError.is(err)) throw err;
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw refuse((err as NodeJS.ErrnoException).code ?? String(err), err);
  }
  // config.toml's rule (src/config/file-trust.ts), without its token check: a .env holds no runner token.
  const trust = configFileTrust(file, undefined);
  if (trust.errors.length) throw refuse(trust.errors.join("; "));
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw refuse((err as NodeJS.ErrnoException).code ?? String(err), err);
  }
  return { parsed: parseDotenv(text), trustWarnings: trust.warnings };
}
