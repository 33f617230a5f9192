/**
 * `drover verify [--config F] [--name N | --token T [--url U]] [--delete]`: asks GitLab whether each
 * runner's token is still valid (`POST /api/v4/runners/verify`, with this host's system ID), as
 * `gitlab-runner verify` does (commands/verify.go). One line per runner on stdout.
 *
 * `--delete` removes from config.toml the runners GitLab answered 403 for (deleted in GitLab, or a
 * token that expired or was revoked), as GitLab Runner's `--delete` does. Only a 403 counts: a
 * runner GitLab could not be asked about (down, a 5xx, garbage) is never removed, and it makes the
 * command fail (GitLab Runner counts those as verified).
 *
 * Exit 0 when every picked runner is valid (or was removed with `--delete`); 2 otherwise.
 */
import { DroverError } from "../../kernel/errors.ts";
import { editConfigFile } from "../config/config-edit.ts";
import type { RunnerConfig } from "../config/model.ts";
import { removeRunners } from "../config/runner-edits.ts";
import { versionInfo } from "../coordinator/payload.ts";
import { RunnersApi } from "../coordinator/runners-api.ts";
import { ExitStatus } from "../exit-status.ts";
import { parseArgs } from "./args.ts";
import { hasSelector, loadRegisteredRunners, selectRunners } from "./registered-runners.ts";
import { usageError } from "./usage.ts";

export async function verifyCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["config", "name", "token", "url"], flags: ["delete"] });
  if (args.positionals.length > 0 || args.rest !== undefined)
    throw usageError(`verify takes only options, got ${JSON.stringify(args.positionals[0] ?? "--")}`);
  const registered = await loadRegisteredRunners(args, "verify");
  const { file, systemId } = registered;
  const runners = hasSelector(args) ? selectRunners(args, registered) : registered.config.runners;

  const invalid: RunnerConfig[] = [];
  const unknown: string[] = [];
  for (const runner of runners) {
    const label = `runner ${JSON.stringify(runner.name)}`;
    if (!runner.url || !runner.token) {
      process.stdout.write(`${label}: not registered (no url or token): skipped\n`);
      continue;
    }
    const outcome = await new RunnersApi(runner.url).verify(runner.token, systemId, versionInfo(runner));
    switch (outcome.kind) {
      case "valid":
        process.stdout.write(`${label} (${runner.url}): valid\n`);
        break;
      case "refused":
        invalid.push(runner);
        process.stdout.write(
          `${label} (${runner.url}): not valid: GitLab answered 403 Forbidden (the runner was deleted, or its token expired or was revoked)\n`,
        );
        break;
      case "failed":
        unknown.push(runner.name);
        process.stdout.write(`${label} (${runner.url}): could not be verified: ${outcome.problem}\n`);
        break;
    }
  }

  if (invalid.length > 0 && args.flags.has("delete")) {
    editConfigFile(file, removeRunners(invalid.map((r) => ({ name: r.name, url: r.url, token: r.token }))));
    for (const runner of invalid)
      process.stdout.write(`removed runner ${JSON.stringify(runner.name)} from ${file}\n`);
  }
  const problems = [
    ...(unknown.length > 0 ? [`GitLab could not be asked about ${names(unknown)}`] : []),
    ...(invalid.length > 0 && !args.flags.has("delete")
      ? [
          `${names(invalid.map((r) => r.name))} not valid (drover verify --delete removes ${invalid.length === 1 ? "it" : "them"} from ${file})`,
        ]
      : []),
  ];
  if (problems.length > 0)
    throw new DroverError("coordinator", `verifying runners failed: ${problems.join("; ")}`, { file });
  return ExitStatus.ok;
}

function names(list: readonly string[]): string {
  return list.length === 1
    ? `runner ${JSON.stringify(list[0])}`
    : `runners ${list.map((n) => JSON.stringify(n)).join(", ")}`;
}
