/** `drover config check [--config F]`: print every problem with file:line; exit 78 on any error. */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { DroverError } from "../../kernel/errors.ts";
import { describeTrustProblem, pathTrustProblems } from "../../kernel/files/trusted-path.ts";
import { checkConfigText } from "../config/check.ts";
import { loadDotenv } from "../config/dotenv.ts";
import { configFileTrust } from "../config/file-trust.ts";
import { lookupConfig } from "../config/lookup.ts";
import { formatProblem } from "../config/problems.ts";
import { ExitStatus } from "../exit-status.ts";
import { executorPluginSpec, hookScriptPaths, lifecyclePluginSpecs } from "../plugin/resolve.ts";
import { parseArgs } from "./args.ts";
import { usageError } from "./usage.ts";

export async function configCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "check")
    throw usageError(
      sub === undefined
        ? "config needs a sub-command: check"
        : `unknown config sub-command ${JSON.stringify(sub)}`,
    );
  const args = parseArgs(rest, { values: ["config"] });
  if (args.positionals.length) throw usageError(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
  const explicitPath = args.values.get("config");
  const location = lookupConfig(
    {
      ...(explicitPath === undefined ? {} : { explicitPath }),
      env: process.env,
      cwd: process.cwd(),
      homeDir: homedir(),
    },
    existsSync,
  );
  if (location.kind === "builtin") {
    process.stdout.write("no config file found: drover runs with its built-in defaults (one shell runner)\n");
    return ExitStatus.ok;
  }
  let text: string;
  try {
    text = readFileSync(location.path, "utf8");
  } catch (err) {
    throw new DroverError(
      "config_invalid",
      `cannot read config file ${JSON.stringify(location.path)}: ${(err as Error).message}`,
      { file: location.path },
    );
  }
  const { config, problems } = checkConfigText(text, location.path);
  const trust = configFileTrust(location.path, config);
  // formatProblem marks warnings itself ("file:line: warning: ..."); errors are counted here.
  const lines = [
    ...trust.errors.map((message) => `${location.path}: ${message}`),
    ...trust.warnings.map((message) => `${location.path}: warning: ${message}`),
    ...problems.map((p) => formatProblem(p)),
  ];
  let errors = trust.errors.length + problems.filter((p) => p.severity === "error").length;
  // Problems only visible once runners are resolved (executors this build cannot run yet).
  for (const runner of config?.runners ?? []) {
    try {
      executorPluginSpec(runner);
    } catch (err) {
      lines.push(`${location.path}:${runner.line}: ${DroverError.from(err).shortMessage}`);
      errors++;
    }
  }
  // The hooks may be named in the `.env` beside the file (GitHub's ACTIONS_RUNNER_HOOK_*): check
  // with the environment drover would run with. A copy: checking changes nothing.
  const env: Record<string, string | undefined> = { ...process.env };
  try {
    loadDotenv(location.path, env);
  } catch (err) {
    lines.push(DroverError.from(err).shortMessage);
    errors++;
  }
  if (config) {
    try {
      lifecyclePluginSpecs(config.hooks, env);
    } catch (err) {
      lines.push(`${location.path}: ${DroverError.from(err).shortMessage}`);
      errors++;
    }
    // Hook scripts run on the host as drover's user: the script-hooks plugin refuses one that
    // another user could change; say so now rather than at the first job.
    for (const path of hookScriptPaths(config.hooks, env)) {
      const untrusted = pathTrustProblems(path)[0];
      if (untrusted && untrusted.kind !== "unreadable") {
        lines.push(`${location.path}: hook ${path}: refused: ${describeTrustProblem(untrusted)}`);
        errors++;
      }
    }
  }
  for (const line of lines) process.stdout.write(`${line}\n`);
  process.stdout.write(
    errors
      ? `${location.path}: ${errors} error(s)\n`
      : `${location.path}: OK (${config?.runners.length ?? 0} runner(s))\n`,
  );
  return errors ? ExitStatus.config : ExitStatus.ok;
}
