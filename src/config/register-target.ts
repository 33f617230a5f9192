/**
 * Which config file `drover register` writes. The same lookup every command reads with
 * (lookup.ts), so that `drover run` afterwards finds the runner without being told where it is, with
 * one difference: the file may not exist yet. `--config FILE` and `$DROVER_CONFIG` name the file to
 * create; with neither, an existing `./config.toml` or `$XDG_CONFIG_HOME/drover/config.toml` is
 * written, else the latter is created (`~/.config/drover/config.toml`), where the lookup will find it.
 */
import { isAbsolute, join, resolve } from "node:path";
import { type LookupInput, lookupConfig } from "./lookup.ts";

export function registerTarget(input: LookupInput, fileExists: (path: string) => boolean): string {
  if (input.explicitPath !== undefined) return resolve(input.cwd, input.explicitPath);
  const fromEnv = input.env.DROVER_CONFIG;
  if (fromEnv !== undefined && fromEnv !== "") return resolve(input.cwd, fromEnv);
  const found = lookupConfig(input, fileExists);
  if (found.kind === "file") return found.path;
  const xdg = input.env.XDG_CONFIG_HOME;
  const configHome = xdg !== undefined && isAbsolute(xdg) ? xdg : join(input.homeDir, ".config");
  return join(configHome, "drover", "config.toml");
}
