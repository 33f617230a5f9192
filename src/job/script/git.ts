/**
 * The get_sources stage: real `git` into the project dir, as GitLab Runner's `writeGetSourcesScript`
 * and `writeRefspecFetchCmd` do it (init + fetch of the refspecs, then a detached checkout of the
 * job's commit and `git clean`), honouring GIT_STRATEGY, GIT_DEPTH, GIT_CHECKOUT, GIT_CLEAN_FLAGS and
 * GIT_FETCH_EXTRA_FLAGS. Works with https/ssh URLs, and `file://` URLs and plain paths where the
 * runner allows local repositories. Every argument from the job is checked (git-input.ts) and comes
 * after `--end-of-options`; the job token reaches git in its environment, never its command line.
 *
 * Not yet: GIT_SUBMODULE_STRATEGY (warned about), GIT_CLONE_PATH, LFS.
 */

import { posix } from "node:path";
import { DroverError } from "../../../kernel/errors.ts";
import { type VariableTable, variableTable, variableValue } from "../../../kernel/variables.ts";
import { parseRepository } from "../git-input.ts";
import type { Job, ScriptContext } from "../model.ts";
import { quote, type ScriptWriter, shellWord } from "./bash.ts";

export type GitStrategy = "clone" | "fetch" | "none" | "empty";

/** GIT_STRATEGY; anything unknown means fetch, GitLab's default when the coordinator allows it. */
export function gitStrategy(table: VariableTable): GitStrategy {
  const value = variableValue(table, "GIT_STRATEGY");
  return value === "clone" || value === "none" || value === "empty" ? value : "fetch";
}

/** Appends the get_sources commands. Variables must already be exported; the script ends in the project dir. */
export function writeGetSources(w: ScriptWriter, job: Job, ctx: ScriptContext): void {
  const table = variableTable(ctx.variables);
  const strategy = gitStrategy(table);
  const dir = ctx.projectDir;
  // An ad-hoc job runs in the user's own directory: never clone into it, never empty it.
  if (job.adHoc !== undefined || strategy === "none") {
    w.print("Skipping Git repository setup").command("mkdir", "-p", dir).command("cd", dir);
    return;
  }
  if (strategy === "empty") {
    assertRemovable(dir);
    w.print("Skipping Git repository setup and creating an empty build directory");
    w.command("mkdir", "-p", posix.dirname(dir)).command("cd", posix.dirname(dir));
    w.command("rm", "-rf", dir).command("mkdir", "-p", dir).command("cd", dir);
    return;
  }
  const git = job.git;
  if (git === undefined) {
    w.print("Skipping Git repository setup: the job has no git_info")
      .command("mkdir", "-p", dir)
      .command("cd", dir);
    return;
  }

  const repository = parseRepository(git.repoUrl);
  if ("problem" in repository) {
    // The parser refused these already; a job built another way must not slip through.
    throw new DroverError("job_invalid", `refusing the repository URL: ${repository.problem}`);
  }
  if (repository.kind === "local" && !ctx.allowLocalRepositories) {
    throw new DroverError(
      "config_invalid",
      `refusing to fetch from a local repository (${repository.url}): this runner does not allow local repositories (allow_local_repositories in config.toml)`,
    );
  }
  const depth = gitDepth(table, git.depth);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion
  w.line('export GIT_TERMINAL_PROMPT="${GIT_TERMINAL_PROMPT:-0}"');
  if (repository.credentials && repository.httpOrigin) {
    // The job token reaches git in its environment (GIT_CONFIG_*, after any the job set itself),
    // never on a command line other users can read in /proc, and never in .git/config.
    const basic = Buffer.from(
      `${repository.credentials.username}:${repository.credentials.password}`,
    ).toString("base64");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion
    w.line('_drover_i="${GIT_CONFIG_COUNT:-0}"');
    w.line(`export "GIT_CONFIG_KEY_$_drover_i="${shellWord(`http.${repository.httpOrigin}.extraHeader`)}`);
    w.line(`export "GIT_CONFIG_VALUE_$_drover_i="${quote(`Authorization: Basic ${basic}`)}`);
    w.line('export GIT_CONFIG_COUNT="$((_drover_i + 1))"');
  }
  w.command("mkdir", "-p", posix.dirname(dir)).command("cd", posix.dirname(dir));
  if (strategy === "clone") {
    assertRemovable(dir);
    w.print(
      depth > 0
        ? `Cloning repository for ${git.ref} with git depth set to ${depth}...`
        : "Cloning repository...",
    );
    w.command("rm", "-rf", dir);
  } else {
    w.print(depth > 0 ? `Fetching changes with git depth set to ${depth}...` : "Fetching changes...");
  }
  w.command("mkdir", "-p", dir).command("cd", dir);
  // Leftovers of a killed earlier job would make every git command fail (GitLab removes the same).
  w.command("rm", "-f", ".git/index.lock", ".git/shallow.lock", ".git/HEAD.lock", ".git/hooks/post-checkout");
  // An empty --template: no hooks or other files from the host's git templates land in the checkout.
  w.command("git", "-c", "init.defaultBranch=main", "init", "--template=", ".");
  w.line(`if git remote add -- origin ${shellWord(repository.url)} >/dev/null 2>&1; then`);
  w.print("Created fresh repository.");
  w.line("else");
  w.command("git", "remote", "set-url", "--", "origin", repository.url);
  w.line("fi");

  const options = ["--no-recurse-submodules"];
  if (depth > 0) options.push("--depth", String(depth));
  options.push(...allowedFlags(w, table, "GIT_FETCH_EXTRA_FLAGS", "--prune --quiet", FETCH_FLAGS));
  const positional = ["--end-of-options", "origin", ...git.refspecs];
  if (depth === 0) {
    // A full fetch into a checkout left shallow by an earlier GIT_DEPTH job must deepen it.
    w.line("if [ -f .git/shallow ]; then");
    w.command("git", "fetch", ...options, "--unshallow", ...positional);
    w.line("else");
    w.command("git", "fetch", ...options, ...positional);
    w.line("fi");
  } else {
    w.command("git", "fetch", ...options, ...positional);
  }

  if (isFalse(variableValue(table, "GIT_CHECKOUT"))) {
    w.print("Skipping Git checkout");
  } else {
    w.print(`Checking out ${git.sha.slice(0, 8)} as ${git.ref}...`);
    // The sha is hex (the parser checks it): never an option. `--`: never a path either.
    w.command("git", "checkout", "-f", "-q", git.sha, "--");
    const clean = allowedFlags(w, table, "GIT_CLEAN_FLAGS", "-ffdx", CLEAN_FLAGS);
    if (clean.length > 0) w.command("git", "clean", ...clean);
  }

  const submodules = variableValue(table, "GIT_SUBMODULE_STRATEGY") ?? "none";
  if (submodules === "normal" || submodules === "recursive") {
    w.warning(`GIT_SUBMODULE_STRATEGY=${submodules} is not supported yet: submodules are not set up`);
  } else {
    w.print("Skipping Git submodules setup");
  }
}

/** GIT_DEPTH when it is a non-negative integer, else `git_info.depth`; 0 means the full history. */
function gitDepth(table: VariableTable, fallback: number): number {
  const text = variableValue(table, "GIT_DEPTH")?.trim() ?? "";
  return /^[0-9]+$/.test(text) ? Number(text) : fallback;
}

/**
 * The options of `git fetch` a job may add with GIT_FETCH_EXTRA_FLAGS: GitLab's documented uses
 * (pruning, tags, depth, filters, verbosity). Not the ones that name a program to run
 * (`--upload-pack`, `-u`) or change git's configuration (`-c`): an option the list does not know is
 * left out, with a warning in the job log.
 */
const FETCH_FLAGS = [
  /^--(no-)?prune(-tags)?$/,
  /^(-q|--quiet|-v|--verbose|--progress|--no-progress)$/,
  /^--(no-)?tags$/,
  /^(-f|--force|--atomic|--append|-a|--dry-run|--ipv4|-4|--ipv6|-6)$/,
  /^--(no-)?(auto-gc|auto-maintenance|write-commit-graph|write-fetch-head|show-forced-updates)$/,
  /^--(no-)?recurse-submodules(=(yes|no|on-demand))?$/,
  /^--(depth|deepen)=\d+$/,
  /^--(unshallow|update-shallow|keep)$/,
  /^--shallow-(since|exclude)=[^\s-][^\s]*$/,
  /^--filter=[A-Za-z0-9:=+._-]+$/,
  /^(--jobs=|-j)\d+$/,
  /^--negotiation-tip=[^\s-][^\s]*$/,
];

/** The options of `git clean` a job may give with GIT_CLEAN_FLAGS (GitLab's default: -ffdx). */
const CLEAN_FLAGS = [/^-[fdxXqn]+$/, /^--(force|quiet|dry-run)$/, /^(-e|--exclude)=[^\s]+$/];

/**
 * A flags variable split on whitespace, keeping only the options `allowed` knows; "none" means no
 * flags, absent or blank means `defaults`.
 */
function allowedFlags(
  w: ScriptWriter,
  table: VariableTable,
  key: string,
  defaults: string,
  allowed: readonly RegExp[],
): string[] {
  const text = variableValue(table, key)?.trim() ?? "";
  if (text === "none") return [];
  const kept: string[] = [];
  for (const flag of (text === "" ? defaults : text).split(/\s+/)) {
    if (allowed.some((pattern) => pattern.test(flag))) kept.push(flag);
    else w.warning(`${key}: ${flag} is not an option drover passes to git; left out`);
  }
  return kept;
}

/** Go's `strconv.ParseBool` false spellings; anything else (GitLab: a parse error) keeps the default, true. */
function isFalse(value: string | undefined): boolean {
  return (
    value === "false" ||
    value === "0" ||
    value === "f" ||
    value === "F" ||
    value === "FALSE" ||
    value === "False"
  );
}

/** Refuses to generate `rm -rf` for a directory that is obviously not a project dir. */
function assertRemovable(dir: string): void {
  const normal = posix.normalize(dir);
  if (normal === "/" || normal === "." || normal === "" || normal.startsWith("..")) {
    throw new DroverError("internal", `refusing to remove project dir ${JSON.stringify(dir)}`);
  }
}
