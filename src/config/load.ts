/**
 * Find, read, parse and validate the configuration: what every command that runs jobs calls first.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { DroverError } from "../../kernel/errors.ts";
import { checkConfigText } from "./check.ts";
import { configFileTrust } from "./file-trust.ts";
import { lookupConfig } from "./lookup.ts";
import { type Config, type ConfigProblem, defaultConfig } from "./model.ts";
import { formatProblem } from "./problems.ts";

export interface LoadOptions {
  /** `--config`. */
  explicitPath?: string;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** For tests; defaults to the user's home directory. */
  homeDir?: string;
}

export interface LoadResult {
  config: Config;
  /** Warnings (unknown keys, ignored tables, a token file others can read): the caller logs them. */
  warnings: ConfigProblem[];
}

/**
 * Loads the configuration for a run. Nothing runs with an invalid config (docs/configuration.md), so any error
 * throws DroverError("config_invalid") with every problem, errors first, in `details.problems`.
 */
export async function loadConfig(opts: LoadOptions): Promise<LoadResult> {
  const location = lookupConfig(
    {
      ...(opts.explicitPath === undefined ? {} : { explicitPath: opts.explicitPath }),
      env: opts.env,
      cwd: opts.cwd,
      homeDir: opts.homeDir ?? homedir(),
    },
    existsSync,
  );
  if (location.kind === "builtin") return { config: defaultConfig(), warnings: [] };

  const file = location.path;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    throw new DroverError(
      "config_invalid",
      `cannot read config file ${JSON.stringify(file)}: ${reason}`,
      { file },
      {
        cause: err,
      },
    );
  }

  const checked = checkConfigText(text, file);
  const trust = configFileTrust(file, checked.config);
  const asProblem = (severity: "error" | "warning", message: string): ConfigProblem => ({
    severity,
    file,
    line: undefined,
    keyPath: "",
    message,
  });
  const problems = [
    ...trust.errors.map((m) => asProblem("error", m)),
    ...trust.warnings.map((m) => asProblem("warning", m)),
    ...checked.problems,
  ];
  const config = checked.config;
  const errors = problems.filter((p) => p.severity === "error");
  const warnings = problems.filter((p) => p.severity === "warning");
  if (config === undefined || errors.length > 0) {
    const first = errors[0];
    throw new DroverError(
      "config_invalid",
      `invalid configuration in ${file}: ${errors.length} ${errors.length === 1 ? "error" : "errors"}`,
      {
        file,
        ...(first?.line === undefined ? {} : { line: first.line }),
        ...(first === undefined || first.keyPath === "" ? {} : { keyPath: first.keyPath }),
        // Warnings too: an "unknown key" warning often explains a "missing" error (`run_exe = ...`).
        problems: [...errors, ...warnings].map(formatProblem),
      },
    );
  }
  return { config, warnings };
}
