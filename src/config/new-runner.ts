/**
 * The `[[runners]]` section `drover register` appends to config.toml: the keys GitLab Runner's
 * `register` writes (`name`, `url`, `id`, `token`, `token_obtained_at`, `token_expires_at`,
 * `executor`), in its order and its value forms, then what the administrator gave on the command
 * line (limit, builds_dir, cache_dir, the executor's own table). A file written by one program is
 * read as it is by the other.
 *
 * @example
 * newRunnerSection({ name: "lxd", url: "https://gitlab.example.com", id: 42, token: "glrt-x",
 *   tokenObtainedAt: now, tokenExpiresAt: undefined, executor: { kind: "shell" } });
 * // [[runners]]
 * //   name = "lxd"
 * //   url = "https://gitlab.example.com"
 * //   id = 42
 * //   token = "glrt-x"
 * //   token_obtained_at = 2024-05-01T12:00:00Z
 * //   token_expires_at = 0001-01-01T00:00:00Z
 * //   executor = "shell"
 */
import { tokenTimeToml } from "./token-time.ts";
import { tomlInteger, tomlString } from "./toml-value.ts";

/** The executor and its settings; each executor carries exactly what it needs. */
export type NewRunnerExecutor =
  | { kind: "shell" }
  | {
      kind: "custom";
      /** `[runners.custom]`; `run_exec` is the one driver GitLab requires. */
      runExec: string;
      configExec?: string;
      prepareExec?: string;
      cleanupExec?: string;
    }
  | {
      kind: "plugin";
      /** `[runners.plugin]`: an installed plugin by name (and version range), or one by path. */
      plugin: { name: string; version?: string } | { path: string };
    };

export interface NewRunner {
  name: string;
  url: string;
  /** The runner's id at GitLab (from `POST /runners/verify`). */
  id: number;
  token: string;
  tokenObtainedAt: Date;
  /** Undefined: never expires. */
  tokenExpiresAt: Date | undefined;
  executor: NewRunnerExecutor;
  limit?: number;
  buildsDir?: string;
  cacheDir?: string;
}

/** The section's text, ending in a newline. */
export function newRunnerSection(runner: NewRunner): string {
  const lines = ["[[runners]]"];
  const key = (name: string, value: string, indent = "  ") => lines.push(`${indent}${name} = ${value}`);
  key("name", tomlString(runner.name));
  key("url", tomlString(runner.url));
  key("id", tomlInteger(runner.id));
  key("token", tomlString(runner.token));
  key("token_obtained_at", tokenTimeToml(runner.tokenObtainedAt));
  key("token_expires_at", tokenTimeToml(runner.tokenExpiresAt));
  key("executor", tomlString(runner.executor.kind));
  if (runner.limit !== undefined) key("limit", tomlInteger(runner.limit));
  if (runner.buildsDir !== undefined) key("builds_dir", tomlString(runner.buildsDir));
  if (runner.cacheDir !== undefined) key("cache_dir", tomlString(runner.cacheDir));
  const { executor } = runner;
  if (executor.kind === "custom") {
    lines.push("  [runners.custom]");
    const drivers: Array<[string, string | undefined]> = [
      ["config_exec", executor.configExec],
      ["prepare_exec", executor.prepareExec],
      ["run_exec", executor.runExec],
      ["cleanup_exec", executor.cleanupExec],
    ];
    for (const [name, path] of drivers) if (path !== undefined) key(name, tomlString(path), "    ");
  } else if (executor.kind === "plugin") {
    lines.push("  [runners.plugin]");
    const { plugin } = executor;
    if ("path" in plugin) key("path", tomlString(plugin.path), "    ");
    else {
      key("name", tomlString(plugin.name), "    ");
      if (plugin.version !== undefined) key("version", tomlString(plugin.version), "    ");
    }
  }
  return `${lines.join("\n")}\n`;
}
