/**
 * `drover register --url URL --token glrt-... [--name N] [--executor shell|custom|plugin] ...`: adds a
 * runner created in GitLab to config.toml, as `gitlab-runner register --non-interactive` does with
 * an authentication token (commands/register.go, docs/daemon.md "Register the runner with GitLab"):
 *
 *   1. everything that can be checked here is checked first (the options, the config file: trusted,
 *      valid, the name unused, the result a configuration drover accepts), so that GitLab is only
 *      asked once the file can be written;
 *   2. `POST /api/v4/runners/verify` with the token and this host's system ID: GitLab says the token
 *      is valid, the runner's id and when the token expires (and records this host as one of the
 *      runner's managers);
 *   3. a `[[runners]]` section is appended to config.toml (comments and the rest of the file kept,
 *      atomically, mode 0600) with `id`, `token`, `token_obtained_at` and `token_expires_at`;
 *   4. if that write fails, the runner manager GitLab recorded in step 2 is deleted again
 *      (`DELETE /api/v4/runners/managers`) unless `--leave-runner`, as GitLab Runner does.
 *
 * Registration tokens (`--registration-token`, deprecated by GitLab since 15.6) and the settings
 * GitLab keeps for a runner created in its UI (`--tag-list`, `--locked`, ...) are refused with
 * GitLab Runner's explanation. The token can come from `$CI_SERVER_TOKEN` instead of the command
 * line (where every local user can read it in the process list), the URL from `$CI_SERVER_URL`,
 * the name from `$RUNNER_NAME` and the executor from `$RUNNER_EXECUTOR`, as for GitLab Runner.
 */
import { existsSync, mkdirSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { dirname } from "node:path";
import { DroverError } from "../../kernel/errors.ts";
import { editConfigFile } from "../config/config-edit.ts";
import { optional } from "../config/fields.ts";
import type { NewRunner, NewRunnerExecutor } from "../config/new-runner.ts";
import { formatProblem } from "../config/problems.ts";
import { registerTarget } from "../config/register-target.ts";
import { addRunner } from "../config/runner-edits.ts";
import { loadSystemId } from "../config/system-id.ts";
import { describeTokenTime } from "../config/token-time.ts";
import { type VersionInfo, versionInfo } from "../coordinator/payload.ts";
import { RunnersApi } from "../coordinator/runners-api.ts";
import { ExitStatus } from "../exit-status.ts";
import { type ParsedArgs, parseArgs } from "./args.ts";
import { usageError } from "./usage.ts";

const VALUES = [
  "config",
  "url",
  "token",
  "name",
  "executor",
  "limit",
  "builds-dir",
  "cache-dir",
  "custom-config-exec",
  "custom-prepare-exec",
  "custom-run-exec",
  "custom-cleanup-exec",
  "plugin-name",
  "plugin-version",
  "plugin-path",
] as const;

/**
 * Settings GitLab keeps for a runner created in its UI; GitLab Runner refuses them with an
 * authentication token (`ensureServerConfigArgsEmpty`), with this explanation.
 */
const SERVER_SETTINGS = [
  "tag-list",
  "locked",
  "run-untagged",
  "access-level",
  "maximum-timeout",
  "paused",
  "maintenance-note",
];

export async function registerCommand(argv: string[]): Promise<number> {
  refuseLegacyOptions(argv);
  const args = parseArgs(argv, { values: VALUES, flags: ["leave-runner", "non-interactive"] });
  if (args.positionals.length > 0 || args.rest !== undefined)
    throw usageError(`register takes only options, got ${JSON.stringify(args.positionals[0] ?? "--")}`);
  const file = registerTarget(
    {
      ...optional("explicitPath", args.values.get("config")),
      env: process.env,
      cwd: process.cwd(),
      homeDir: homedir(),
    },
    existsSync,
  );
  const planned = plannedRunner(args, process.env);

  // Everything about the file is checked before GitLab is asked.
  const preview = editConfigFile(file, addRunner(planned, file), { create: true, dryRun: true });
  const runner = preview.config.runners.at(-1);
  if (runner === undefined)
    throw new DroverError("internal", "the planned runner is not in the planned configuration");
  for (const warning of preview.warnings)
    process.stderr.write(`drover: warning: ${formatProblem(warning)}\n`);
  const sameToken = preview.config.runners.filter(
    (r) => r !== runner && r.url === planned.url && r.token === planned.token,
  );
  for (const other of sameToken)
    process.stderr.write(
      `drover: warning: runner ${JSON.stringify(other.name)} in ${file} already has this URL and token: GitLab sees both as one runner on this host\n`,
    );
  if (planned.limit !== undefined && planned.limit > preview.config.concurrent)
    process.stderr.write(
      `drover: warning: the runner's limit (${planned.limit}) is larger than concurrent (${preview.config.concurrent}) in ${file}: concurrent takes precedence\n`,
    );

  // The system ID lives beside the file: its directory must exist to keep it.
  if (!existsSync(dirname(file))) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const { systemId, warning } = loadSystemId(file);
  if (warning !== undefined) process.stderr.write(`drover: warning: ${warning}\n`);

  const api = new RunnersApi(planned.url);
  const registered: NewRunner = {
    ...planned,
    ...(await verifyWithGitLab(api, planned, systemId, versionInfo(runner))),
    tokenObtainedAt: wholeSecondsNow(),
  };
  try {
    editConfigFile(file, addRunner(registered, file), { create: true });
  } catch (err) {
    // The record is this host's for the token: not deleted when another section already uses it.
    const keep = args.flags.has("leave-runner") || sameToken.length > 0;
    throw await undoRegistration(DroverError.from(err), api, registered, systemId, keep);
  }
  process.stdout.write(
    `Runner ${JSON.stringify(registered.name)} registered with ${registered.url} (runner id ${registered.id}, system ID ${systemId}, token expires: ${describeTokenTime(registered.tokenExpiresAt)}).\n` +
      `Configuration (with the authentication token) saved in ${file}.\n` +
      `Start it with: drover run --config ${file}\n` +
      "A drover run already using this file takes the new runner on a reload (SIGHUP: systemctl reload drover).\n",
  );
  return ExitStatus.ok;
}

/** The runner the command line describes, before GitLab has said its id and the token's expiry. */
function plannedRunner(args: ParsedArgs, env: NodeJS.ProcessEnv): NewRunner {
  const setting = (option: (typeof VALUES)[number], variable: string) =>
    args.values.get(option) ?? nonEmpty(env[variable]);
  const url = setting("url", "CI_SERVER_URL");
  const token = setting("token", "CI_SERVER_TOKEN");
  if (url === undefined)
    throw usageError("register needs --url: the GitLab instance, e.g. https://gitlab.example.com");
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
    throw usageError(`--url must be an http(s) URL, got ${JSON.stringify(url)}`);
  if (token === undefined)
    throw usageError(
      "register needs --token (or $CI_SERVER_TOKEN): the runner's authentication token (glrt-...), shown by GitLab when the runner is created",
    );
  if (!/^[\x21-\x7e]+$/.test(token))
    throw usageError("--token must be printable ASCII without blanks (copy it again from GitLab)");
  return {
    name: setting("name", "RUNNER_NAME") ?? hostname(),
    url,
    id: 1, // until GitLab says
    token,
    tokenObtainedAt: wholeSecondsNow(),
    tokenExpiresAt: undefined,
    executor: readExecutor(args, setting("executor", "RUNNER_EXECUTOR") ?? "shell"),
    ...nonNegative(args, "limit"),
    ...optional("buildsDir", args.values.get("builds-dir")),
    ...optional("cacheDir", args.values.get("cache-dir")),
  };
}

/** `POST /runners/verify`: the runner's id and the token's expiry, or an error saying why not. */
async function verifyWithGitLab(
  api: RunnersApi,
  runner: NewRunner,
  systemId: string,
  info: VersionInfo,
): Promise<Pick<NewRunner, "id" | "tokenExpiresAt">> {
  const verified = await api.verify(runner.token, systemId, info);
  const where = `${runner.url.replace(/\/+$/, "")}/api/v4/runners/verify`;
  switch (verified.kind) {
    case "refused":
      throw new DroverError(
        "coordinator",
        `GitLab refused the token (403 Forbidden from ${where}): it must be the authentication token (glrt-...) of a runner that exists; config.toml was not changed`,
      );
    case "failed":
      throw new DroverError(
        "coordinator",
        `verifying the runner with GitLab failed: ${verified.problem}; config.toml was not changed`,
      );
    case "valid":
      if (verified.runnerId === undefined)
        throw new DroverError(
          "coordinator",
          `GitLab accepted the token but did not say the runner's id (${where} answered in the format of GitLab before 15.10): drover register needs GitLab 15.10 or later; config.toml was not changed`,
        );
      return { id: verified.runnerId, tokenExpiresAt: verified.tokenExpiresAt };
  }
}

/**
 * The config could not be written after GitLab recorded this host as a runner manager: delete that
 * record again (GitLab Runner's `unregisterRunnerFunc`), so nothing is left half-registered. Only
 * for authentication tokens: there the manager is this host's alone; the runner itself stays.
 * `keep`: `--leave-runner`, or the record is also another section's.
 */
async function undoRegistration(
  error: DroverError,
  api: RunnersApi,
  runner: NewRunner,
  systemId: string,
  keep: boolean,
): Promise<DroverError> {
  if (keep || !runner.token.startsWith("glrt-")) return error;
  const undone = await api.deleteRunnerManager(runner.token, systemId);
  const note =
    undone.kind === "deleted" || undone.kind === "not_found"
      ? `GitLab's record of this host (system ID ${systemId}) for the runner was deleted again`
      : `deleting GitLab's record of this host (system ID ${systemId}) failed too: ${undone.kind === "failed" ? undone.problem : "403 Forbidden"}`;
  return new DroverError(
    error.code,
    error.shortMessage,
    { ...error.details, problems: [...(error.details.problems ?? []), note] },
    { cause: error },
  );
}

/**
 * GitLab Runner's registration-token flow and its server-side settings do not apply to a runner
 * created in GitLab; say so rather than "unknown option".
 */
function refuseLegacyOptions(argv: readonly string[]): void {
  for (const arg of argv) {
    if (arg === "--") return;
    const name = /^--([^=]+)/.exec(arg)?.[1];
    if (name === "registration-token" || arg === "-r")
      throw usageError(
        "registration tokens are not supported (GitLab deprecated them in 15.6): create the runner in GitLab (Settings > CI/CD > Runners > New runner) and pass its authentication token with --token",
      );
    if (name !== undefined && SERVER_SETTINGS.includes(name))
      throw usageError(
        `--${name} is a setting GitLab keeps for the runner, not one given at registration with an authentication token: set it where the runner was created in GitLab`,
      );
  }
}

function readExecutor(args: ParsedArgs, executor: string): NewRunnerExecutor {
  const custom = [
    "custom-config-exec",
    "custom-prepare-exec",
    "custom-run-exec",
    "custom-cleanup-exec",
  ] as const;
  const plugin = ["plugin-name", "plugin-version", "plugin-path"] as const;
  const given = (names: readonly string[]) => names.filter((n) => args.values.has(n));
  const misplaced = (kind: string, names: readonly string[]) => {
    const wrong = given(names)[0];
    if (wrong !== undefined) throw usageError(`--${wrong} is for --executor ${kind}, not ${executor}`);
  };
  switch (executor) {
    case "shell":
      misplaced("custom", custom);
      misplaced("plugin", plugin);
      return { kind: "shell" };
    case "custom": {
      misplaced("plugin", plugin);
      const runExec = args.values.get("custom-run-exec");
      if (runExec === undefined)
        throw usageError("--executor custom needs --custom-run-exec: the driver run for every stage");
      return {
        kind: "custom",
        runExec,
        ...optional("configExec", args.values.get("custom-config-exec")),
        ...optional("prepareExec", args.values.get("custom-prepare-exec")),
        ...optional("cleanupExec", args.values.get("custom-cleanup-exec")),
      };
    }
    case "plugin": {
      misplaced("custom", custom);
      const name = args.values.get("plugin-name");
      const path = args.values.get("plugin-path");
      const version = args.values.get("plugin-version");
      if ((name === undefined) === (path === undefined))
        throw usageError(
          "--executor plugin needs either --plugin-name (an installed plugin) or --plugin-path (a plugin executable)",
        );
      if (path !== undefined) {
        if (version !== undefined)
          throw usageError("--plugin-version applies to --plugin-name, not to --plugin-path");
        return { kind: "plugin", plugin: { path } };
      }
      return { kind: "plugin", plugin: { name: name ?? "", ...optional("version", version) } };
    }
    default:
      throw usageError(
        `unknown executor ${JSON.stringify(executor)}: drover supports shell, custom and plugin`,
      );
  }
}

function nonNegative(args: ParsedArgs, option: "limit"): { limit?: number } {
  const text = args.values.get(option);
  if (text === undefined) return {};
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)))
    throw usageError(`--${option} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return { limit: Number(text) };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** GitLab Runner truncates `token_obtained_at` to the second. */
function wholeSecondsNow(): Date {
  return new Date(Math.floor(Date.now() / 1000) * 1000);
}
