/**
 * Which executor a runner uses, as the job log names it, and the defaults that depend on it.
 */
import { homedir } from "node:os";
import { basename, join } from "node:path";
import type { RunnerConfig } from "../config/model.ts";

export interface ExecutorIdentity {
  kind: RunnerConfig["executor"];
  /** "shell", "custom", or the plugin's name. */
  name: string;
  /** For "Using Custom executor with driver ..." and the first line of the log. */
  title: string;
}

export function executorIdentity(runner: RunnerConfig): ExecutorIdentity {
  switch (runner.executor) {
    case "shell":
      return { kind: "shell", name: "shell", title: "Shell" };
    case "custom":
      return { kind: "custom", name: "custom", title: "Custom" };
    case "plugin": {
      const name = runner.plugin.kind === "path" ? basename(runner.plugin.path) : runner.plugin.name;
      return { kind: "plugin", name, title: `plugin "${name}"` };
    }
  }
}

export interface ExecutorDefaults {
  buildsDir: string | undefined;
  cacheDir: string | undefined;
  buildsDirIsShared: boolean;
}

/**
 * Where jobs go when neither config.toml nor the executor says.
 *
 * shell: GitLab's shell executor uses `builds/` under the runner's working directory; drover, which
 * an administrator may start from any directory, uses `$XDG_DATA_HOME/drover/builds` (and `cache`)
 * instead, shared between runners like GitLab's shell executor (token/concurrent-id layout).
 * custom and plugin: no default; the driver or config.toml must say (GitLab: "the builds_dir is not
 * configured").
 */
export function executorDefaults(identity: ExecutorIdentity): ExecutorDefaults {
  if (identity.kind !== "shell")
    return { buildsDir: undefined, cacheDir: undefined, buildsDirIsShared: false };
  const data = process.env.XDG_DATA_HOME || join(homedir(), ".local", "share");
  return {
    buildsDir: join(data, "drover", "builds"),
    cacheDir: join(data, "drover", "cache"),
    buildsDirIsShared: true,
  };
}
