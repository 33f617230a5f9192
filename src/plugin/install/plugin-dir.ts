/** Where installed plugins live (docs/installing-plugins.md): `$DROVER_PLUGIN_DIR`, else `$XDG_DATA_HOME/drover/plugins`. */
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";

export function pluginDir(env: Record<string, string | undefined> = process.env): string {
  if (env.DROVER_PLUGIN_DIR) return env.DROVER_PLUGIN_DIR;
  // XDG: a relative XDG_DATA_HOME is invalid and ignored.
  const data =
    env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME)
      ? env.XDG_DATA_HOME
      : join(homedir(), ".local", "share");
  return join(data, "drover", "plugins");
}

/** The lock file beside the installed plugins. */
export function lockPath(dir: string): string {
  return join(dir, "drover-plugins.lock");
}
