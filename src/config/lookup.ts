/**
 * Which config file to read (README.md, "Usage"): `--config`, else `$DROVER_CONFIG`, else `./config.toml`, else
 * `$XDG_CONFIG_HOME/drover/config.toml` (XDG default `~/.config`), else the built-in defaults.
 * A pure function of its inputs and `fileExists`, so the order is unit-tested without touching disk.
 */
import { isAbsolute, join, resolve } from "node:path";
import { DroverError } from "../../kernel/errors.ts";

export interface LookupInput {
  /** `--config`; relative paths are relative to `cwd`. */
  explicitPath?: string;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  homeDir: string;
}

export type ConfigLocation =
  | { kind: "file"; path: string /* absolute */; from: "flag" | "env" | "cwd" | "xdg" }
  | { kind: "builtin" };

/** Throws DroverError("config_invalid") when a file named by `--config` or `$DROVER_CONFIG` does not exist. */
export function lookupConfig(input: LookupInput, fileExists: (path: string) => boolean): ConfigLocation {
  const named = (path: string, from: "flag" | "env", label: string): ConfigLocation => {
    const abs = resolve(input.cwd, path);
    if (!fileExists(abs)) {
      throw new DroverError(
        "config_invalid",
        `config file ${JSON.stringify(abs)} (from ${label}) does not exist`,
        {
          file: abs,
        },
      );
    }
    return { kind: "file", path: abs, from };
  };
  if (input.explicitPath !== undefined) return named(input.explicitPath, "flag", "--config");
  // An empty variable counts as unset, as shells make it easy to export one by accident.
  const fromEnv = input.env.DROVER_CONFIG;
  if (fromEnv !== undefined && fromEnv !== "") return named(fromEnv, "env", "$DROVER_CONFIG");

  const inCwd = join(input.cwd, "config.toml");
  if (fileExists(inCwd)) return { kind: "file", path: inCwd, from: "cwd" };

  // XDG Base Directory spec: a relative or empty $XDG_CONFIG_HOME is ignored.
  const xdg = input.env.XDG_CONFIG_HOME;
  const configHome = xdg !== undefined && isAbsolute(xdg) ? xdg : join(input.homeDir, ".config");
  const inXdg = join(configHome, "drover", "config.toml");
  if (fileExists(inXdg)) return { kind: "file", path: inXdg, from: "xdg" };

  return { kind: "builtin" };
}
