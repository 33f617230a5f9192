/**
 * `drover unregister [--config F] --name N | --token T [--url U] | --all-runners`: tells GitLab this
 * host no longer runs the runner, then removes its section from config.toml (atomically, comments
 * kept), as `gitlab-runner unregister` does (commands/unregister.go):
 *
 *   - an authentication token (`glrt-...`, a runner created in GitLab): `DELETE
 *     /api/v4/runners/managers` with this host's system ID. Only this host's runner manager goes;
 *     the runner stays in GitLab for the other hosts that share its token (delete it in GitLab's
 *     UI to remove it altogether). A 404 "Runner manager not found" means GitLab has no record of
 *     this host for the runner: nothing to delete there, the section is removed;
 *   - an older token (a runner registered with a registration token): `DELETE /api/v4/runners`,
 *     which deletes the runner.
 *
 * A runner GitLab did not confirm (403, unreachable, a 5xx) keeps its section, and the command
 * fails (exit 2) after removing those that were confirmed. `drover verify --delete` removes
 * runners GitLab no longer knows.
 */
import { DroverError } from "../../kernel/errors.ts";
import { editConfigFile } from "../config/config-edit.ts";
import type { RunnerConfig } from "../config/model.ts";
import { removeRunners } from "../config/runner-edits.ts";
import { type DeleteOutcome, RunnersApi } from "../coordinator/runners-api.ts";
import { ExitStatus } from "../exit-status.ts";
import { parseArgs } from "./args.ts";
import { hasSelector, loadRegisteredRunners, selectRunners } from "./registered-runners.ts";
import { usageError } from "./usage.ts";

export async function unregisterCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["config", "name", "token", "url"], flags: ["all-runners"] });
  if (args.positionals.length > 0 || args.rest !== undefined)
    throw usageError(`unregister takes only options, got ${JSON.stringify(args.positionals[0] ?? "--")}`);
  const all = args.flags.has("all-runners");
  if (all === hasSelector(args))
    throw usageError("unregister needs one of --name NAME, --token TOKEN [--url URL] or --all-runners");
  const registered = await loadRegisteredRunners(args, "unregister");
  const { file, systemId } = registered;
  const picked = all ? registered.config.runners : selectRunners(args, registered);

  const done: RunnerConfig[] = [];
  const failed: string[] = [];
  for (const runner of picked) {
    const label = `runner ${JSON.stringify(runner.name)}`;
    if (!runner.url || !runner.token) {
      if (!all)
        throw new DroverError(
          "usage",
          `${label} has no url or token in ${file}: it is not registered with GitLab`,
          { file },
        );
      process.stdout.write(`${label}: not registered (no url or token): left in ${file}\n`);
      continue;
    }
    const api = new RunnersApi(runner.url);
    const manager = runner.token.startsWith("glrt-");
    const outcome: DeleteOutcome = manager
      ? await api.deleteRunnerManager(runner.token, systemId)
      : await api.deleteRunner(runner.token);
    const what = manager ? `this host's runner manager (system ID ${systemId})` : "the runner";
    switch (outcome.kind) {
      case "deleted":
        done.push(runner);
        process.stdout.write(`${label} (${runner.url}): GitLab deleted ${what}\n`);
        break;
      case "not_found":
        done.push(runner);
        process.stdout.write(
          `${label} (${runner.url}): GitLab has no runner manager for this host: nothing to delete there\n`,
        );
        break;
      case "refused":
        failed.push(runner.name);
        process.stdout.write(
          `${label} (${runner.url}): GitLab refused its token (403 Forbidden): the runner may be deleted already (drover verify --delete removes runners GitLab no longer knows)\n`,
        );
        break;
      case "failed":
        failed.push(runner.name);
        process.stdout.write(`${label} (${runner.url}): unregistering failed: ${outcome.problem}\n`);
        break;
    }
  }

  if (done.length > 0) {
    editConfigFile(file, removeRunners(done.map((r) => ({ name: r.name, url: r.url, token: r.token }))));
    for (const runner of done)
      process.stdout.write(`removed runner ${JSON.stringify(runner.name)} from ${file}\n`);
  }
  if (failed.length > 0)
    throw new DroverError(
      "coordinator",
      `unregistering failed for ${failed.map((n) => JSON.stringify(n)).join(", ")}: ${failed.length === 1 ? "its section stays" : "their sections stay"} in ${file}`,
      { file },
    );
  return ExitStatus.ok;
}
