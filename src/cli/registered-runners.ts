/**
 * What `drover verify` and `drover unregister` start from: the config file in effect (it must be a
 * file: the built-in configuration has no registered runner), this host's system ID beside it, and
 * the runners the command line picks (`--name`, `--token` with or without `--url`), as GitLab
 * Runner's commands pick them.
 */
import { DroverError } from "../../kernel/errors.ts";
import { loadConfig } from "../config/load.ts";
import type { Config, RunnerConfig } from "../config/model.ts";
import { formatProblem } from "../config/problems.ts";
import { loadSystemId } from "../config/system-id.ts";
import type { ParsedArgs } from "./args.ts";

export interface RegisteredRunners {
  file: string;
  config: Config;
  systemId: string;
}

/** Loads the configuration like every command does (`--config`, `$DROVER_CONFIG`, ...); warnings on stderr. */
export async function loadRegisteredRunners(args: ParsedArgs, command: string): Promise<RegisteredRunners> {
  const explicitPath = args.values.get("config");
  const { config, warnings } = await loadConfig({
    ...(explicitPath === undefined ? {} : { explicitPath }),
    env: process.env,
    cwd: process.cwd(),
  });
  const file = config.source;
  if (file === undefined)
    throw new DroverError(
      "config_invalid",
      `no config file found, so no registered runner to ${command} (drover register writes one; or name it with --config)`,
    );
  for (const warning of warnings) process.stderr.write(`drover: warning: ${formatProblem(warning)}\n`);
  const { systemId, warning } = loadSystemId(file);
  if (warning !== undefined) process.stderr.write(`drover: warning: ${warning}\n`);
  return { file, config, systemId };
}

/** Whether the command line names runners (`--name`, `--token`, `--url`); without, it means all of them. */
export function hasSelector(args: ParsedArgs): boolean {
  return ["name", "token", "url"].some((option) => args.values.has(option));
}

/**
 * The runners `--name` / `--token` (and `--url` with it) pick: a runner is picked when its name is
 * `--name`, or its token is `--token` and (without `--url`, or) its url is `--url`. Throws a usage
 * error naming the runners there are when none is picked.
 */
export function selectRunners(args: ParsedArgs, { config, file }: RegisteredRunners): RunnerConfig[] {
  const name = args.values.get("name");
  const token = args.values.get("token");
  const url = args.values.get("url");
  if (url !== undefined && token === undefined && name === undefined)
    throw new DroverError("usage", "--url picks runners together with --token (or use --name)");
  const sameUrl = (a: string | undefined, b: string) => a?.replace(/\/+$/, "") === b.replace(/\/+$/, "");
  const picked = config.runners.filter(
    (r) =>
      (name !== undefined && r.name === name) ||
      (token !== undefined && r.token === token && (url === undefined || sameUrl(r.url, url))),
  );
  if (picked.length === 0) {
    const what = name !== undefined ? `named ${JSON.stringify(name)}` : "with this token";
    throw new DroverError(
      "usage",
      `no runner ${what} in ${file}; runners: ${config.runners.map((r) => r.name).join(", ")}`,
      { file },
    );
  }
  return picked;
}
