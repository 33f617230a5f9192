/**
 * The get_sources stage: real `git` into the project dir, as GitLab Runner's
 * `writeGetSourcesScript` does it (shells/abstract.go), with GitLab's messages:
 *
 *   pre_get_sources_script (the runner's, then the job's `hooks:`)
 *   init + fetch of the refspecs ("Fetching changes...", "Created fresh repository.")
 *   a detached checkout of the job's commit and `git clean`
 *     ("Checking out 9e18a4d6 as detached HEAD (ref is main)...") and `git lfs pull`
 *   submodules (GIT_SUBMODULE_STRATEGY, _PATHS, _UPDATE_FLAGS, _DEPTH; LFS inside them)
 *   post_get_sources_script (the job's `hooks:`, then the runner's)
 *
 * honouring GIT_STRATEGY, GIT_DEPTH, GIT_CHECKOUT, GIT_CLEAN_FLAGS, GIT_FETCH_EXTRA_FLAGS,
 * GIT_LFS_SKIP_SMUDGE and the runner's `clone_url`. Works with https/ssh URLs, and `file://` URLs
 * and plain paths where the runner allows local repositories. Every argument from the job is
 * checked (git-input.ts) and comes after `--end-of-options`, or is an option from an allow-list;
 * the job token reaches git in its environment, never its command line.
 *
 * Not done: GIT_CLONE_PATH (GitLab's custom_build_dir), FF_USE_GIT_NATIVE_CLONE (always init +
 * fetch, GitLab's default).
 */

import { posix } from "node:path";
import { DroverError } from "../../../kernel/errors.ts";
import { type VariableTable, variableTable, variableValue } from "../../../kernel/variables.ts";
import { parseRepository, type Repository } from "../git-input.ts";
import type { Job, ScriptContext } from "../model.ts";
import { parseBool } from "../variables.ts";
import { quote, type ScriptWriter, shellWord } from "./bash.ts";

export type GitStrategy = "clone" | "fetch" | "none" | "empty";

/** GIT_STRATEGY; anything unknown means fetch, GitLab's default when the coordinator allows it. */
export function gitStrategy(table: VariableTable): GitStrategy {
  const value = variableValue(table, "GIT_STRATEGY");
  return value === "clone" || value === "none" || value === "empty" ? value : "fetch";
}

export type SubmoduleStrategy = "none" | "normal" | "recursive";

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
  w.command("mkdir", "-p", posix.dirname(dir)).command("cd", posix.dirname(dir));
  // GitLab runs the hooks only for the fetch and clone strategies.
  const pre = [
    ...(ctx.runnerScripts?.preGetSources ? [ctx.runnerScripts.preGetSources] : []),
    ...job.hooks.preGetSourcesScript,
  ];
  if (pre.length > 0)
    w.userCommands(pre, { sectionPrefix: "pre_clone_script", sections: ctx.scriptSections ?? false });

  const git = job.git;
  if (git === undefined) {
    w.print("Skipping Git repository setup: the job has no git_info")
      .command("mkdir", "-p", dir)
      .command("cd", dir);
  } else {
    const repository = remoteRepository(job, ctx);
    writeCredentials(w, repository, ctx);
    if (strategy === "clone") {
      // GitLab's clone without FF_USE_GIT_NATIVE_CLONE: remove the old checkout, then fetch anew.
      assertRemovable(dir);
      w.command("rm", "-rf", dir);
    }
    const depth = gitDepth(table, git.depth);
    w.print(depth > 0 ? `Fetching changes with git depth set to ${depth}...` : "Fetching changes...");
    w.command("mkdir", "-p", dir).command("cd", dir);
    // Leftovers of a killed earlier job would make every git command fail (GitLab removes the same).
    w.command(
      "rm",
      "-f",
      ".git/index.lock",
      ".git/shallow.lock",
      ".git/HEAD.lock",
      ".git/config.lock",
      ".git/hooks/post-checkout",
    );
    w.line("find .git/refs -name '*.lock' -type f -delete 2>/dev/null || true");
    // An empty --template: no hooks or other files from the host's git templates land in the checkout.
    w.command("git", "-c", "init.defaultBranch=none", "init", "--template=", ".");
    w.line(`if git remote add -- origin ${shellWord(repository.url)} >/dev/null 2>&1; then`);
    w.print("Created fresh repository.");
    w.line("else");
    w.command("git", "remote", "set-url", "--", "origin", repository.url);
    w.line("fi");

    const lfs = !isTrue(variableValue(table, "GIT_LFS_SKIP_SMUDGE"));
    // GitLab fetches without smudging LFS files (memory use), then pulls them after the checkout.
    if (lfs) w.line("export GIT_LFS_SKIP_SMUDGE=1");

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

    const checkout = parseBool(variableValue(table, "GIT_CHECKOUT") ?? "") ?? true;
    const cleanFlags = allowedFlags(w, table, "GIT_CLEAN_FLAGS", "-ffdx", CLEAN_FLAGS);
    if (checkout) {
      w.print(`Checking out ${git.sha.slice(0, 8)} as detached HEAD (ref is ${git.ref})...`);
      // The sha is hex (the parser checks it): never an option. `--`: never a path either.
      w.command("git", "-c", "submodule.recurse=false", "checkout", "-f", "-q", git.sha, "--");
      if (cleanFlags.length > 0) w.command("git", "clean", ...cleanFlags);
      if (lfs) {
        w.line("if git lfs version >/dev/null 2>&1; then");
        w.command("git", ...LFS_FILTER, "lfs", "pull");
        w.line("echo");
        w.line("fi");
      }
    } else {
      w.print("Skipping Git checkout");
    }
    writeSubmodules(w, table, { depth, cleanFlags, lfs });
  }

  const post = [
    ...job.hooks.postGetSourcesScript,
    ...(ctx.runnerScripts?.postGetSources ? [ctx.runnerScripts.postGetSources] : []),
  ];
  if (post.length > 0)
    w.userCommands(post, { sectionPrefix: "post_clone_script", sections: ctx.scriptSections ?? false });
}

/**
 * The repository to fetch: the job's URL, or with a `clone_url` in config.toml GitLab's
 * `<clone_url>/<project path>.git` with the job token as `gitlab-ci-token`'s password.
 */
function remoteRepository(job: Job, ctx: ScriptContext): Repository {
  let url = job.git!.repoUrl;
  if (ctx.cloneUrl) {
    const clone = new URL(ctx.cloneUrl);
    clone.pathname = posix.join(clone.pathname, `${job.projectPath}.git`);
    if (job.token) {
      clone.username = "gitlab-ci-token";
      clone.password = encodeURIComponent(job.token);
    }
    url = clone.toString();
  }
  const repository = parseRepository(url);
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
  return repository;
}

/**
 * git's own configuration for this stage, through its environment (GIT_CONFIG_*, after any the
 * job set itself): the job token as an Authorization header for the repository's origin, never on
 * a command line other users can read in /proc, and never in .git/config; and, where the runner
 * allows local repositories, local submodules too (git refuses `file://` submodules by default).
 */
function writeCredentials(w: ScriptWriter, repository: Repository, ctx: ScriptContext): void {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion
  w.line('export GIT_TERMINAL_PROMPT="${GIT_TERMINAL_PROMPT:-0}"');
  const settings: [string, string][] = [];
  if (repository.credentials && repository.httpOrigin) {
    const basic = Buffer.from(
      `${repository.credentials.username}:${repository.credentials.password}`,
    ).toString("base64");
    settings.push([`http.${repository.httpOrigin}.extraHeader`, `Authorization: Basic ${basic}`]);
  }
  if (ctx.allowLocalRepositories) settings.push(["protocol.file.allow", "always"]);
  for (const [key, value] of settings) {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion
    w.line('_drover_i="${GIT_CONFIG_COUNT:-0}"');
    // Only a number goes into $((...)), which would evaluate a name as an expression.
    w.line("case $_drover_i in ''|*[!0-9]*) _drover_i=0 ;; esac");
    w.line(`export "GIT_CONFIG_KEY_$_drover_i="${shellWord(key)}`);
    w.line(`export "GIT_CONFIG_VALUE_$_drover_i="${quote(value)}`);
    w.line('export GIT_CONFIG_COUNT="$((_drover_i + 1))"');
  }
}

/** GIT_SUBMODULE_STRATEGY, as GitLab's `writeSubmoduleUpdateCmds`. */
function writeSubmodules(
  w: ScriptWriter,
  table: VariableTable,
  main: { depth: number; cleanFlags: string[]; lfs: boolean },
): void {
  const value = variableValue(table, "GIT_SUBMODULE_STRATEGY") ?? "";
  if (value === "" || value === "none") {
    w.print("Skipping Git submodules setup");
    return;
  }
  if (value !== "normal" && value !== "recursive") {
    w.line(
      `printf '%s\\n' ${quote(`ERROR: GIT_SUBMODULE_STRATEGY: unknown value ${JSON.stringify(value)} (expected none, normal or recursive)`)} >&2`,
    );
    w.line("exit 1");
    return;
  }
  const recursive = value === "recursive";
  const depth = gitDepth(table, main.depth, "GIT_SUBMODULE_DEPTH");
  w.print(
    `Updating/initializing submodules${recursive ? " recursively" : ""}${depth > 0 ? ` with git depth set to ${depth}` : ""}...`,
  );
  const paths = submodulePaths(w, table);
  if (paths === undefined) return;
  const pathArgs = paths.length > 0 ? ["--", ...paths] : [];
  const foreach = ["submodule", "foreach", ...(recursive ? ["--recursive"] : [])];
  const sync = ["submodule", "sync", ...(recursive ? ["--recursive"] : []), ...pathArgs];
  const update = [
    "submodule",
    "update",
    "--init",
    ...(recursive ? ["--recursive"] : []),
    ...(depth > 0 ? ["--depth", String(depth)] : []),
    ...allowedFlags(w, table, "GIT_SUBMODULE_UPDATE_FLAGS", "", SUBMODULE_UPDATE_FLAGS),
    ...pathArgs,
  ];
  // A command line for `git submodule foreach`, which runs it with sh: every flag quoted.
  const clean = `git clean ${(main.cleanFlags.length > 0 ? main.cleanFlags : ["-ffdx"]).map(shellWord).join(" ")}`;
  w.command("git", "submodule", "init");
  w.command("git", ...sync);
  w.command("git", ...foreach, clean);
  w.command("git", ...foreach, "git reset --hard");
  w.line(`if ${["git", ...update].map(shellWord).join(" ")}; then`);
  w.print("Updated submodules");
  w.command("git", ...sync);
  w.line("else");
  w.warning("Updating submodules failed. Retrying...");
  w.command("git", ...sync);
  w.command("git", ...update);
  w.command("git", ...foreach, "git reset --hard");
  w.line("fi");
  w.command("git", ...foreach, clean);
  if (main.lfs) {
    w.line("if git lfs version >/dev/null 2>&1; then");
    w.print("Pulling LFS files...");
    w.command("git", ...foreach, ["git", ...LFS_FILTER, "lfs", "pull"].map(shellWord).join(" "));
    w.line("fi");
  }
}

/**
 * GIT_SUBMODULE_PATHS: space-separated pathspecs (`sub1 :(exclude)sub2`), passed after `--`.
 * GitLab refuses a lone `:(exclude)`; so does drover, and anything that is not a plain pathspec.
 */
function submodulePaths(w: ScriptWriter, table: VariableTable): string[] | undefined {
  const text = variableValue(table, "GIT_SUBMODULE_PATHS")?.trim() ?? "";
  if (text === "") return [];
  const paths = text.split(/\s+/);
  const bad = paths.find((p) => p === ":(exclude)" || /[\x00-\x1f\x7f]/.test(p));
  if (bad !== undefined) {
    w.line(
      `printf '%s\\n' ${quote(`ERROR: GIT_SUBMODULE_PATHS: invalid submodule pathspec ${JSON.stringify(bad)}`)} >&2`,
    );
    w.line("exit 1");
    return undefined;
  }
  return paths;
}

/**
 * The cleanup GitLab's FF_ENABLE_JOB_CLEANUP adds at the end of the job (writeCleanupBuildDirectoryScript):
 * the project dir removed (clone, empty), or reset to the commit (fetch: `git clean`, `git reset
 * --hard`, the same in submodules).
 */
export function writeJobCleanup(w: ScriptWriter, job: Job, ctx: ScriptContext): void {
  const table = variableTable(ctx.variables);
  const strategy = gitStrategy(table);
  // Never the user's own directory (`drover exec -- cmd`).
  if (job.adHoc !== undefined || strategy === "none") {
    w.print("Skipping build directory cleanup step");
    return;
  }
  const dir = ctx.projectDir;
  if (strategy === "clone" || strategy === "empty") {
    assertRemovable(dir);
    w.command("rm", "-rf", dir);
    return;
  }
  w.line(`if [ -d ${shellWord(`${dir}/.git`)} ]; then`);
  w.command("cd", dir);
  const cleanFlags = allowedFlags(w, table, "GIT_CLEAN_FLAGS", "-ffdx", CLEAN_FLAGS);
  if (cleanFlags.length > 0) w.command("git", "clean", ...cleanFlags);
  w.command("git", "reset", "--hard");
  const submodules = variableValue(table, "GIT_SUBMODULE_STRATEGY");
  if (submodules === "normal" || submodules === "recursive") {
    const foreach = ["submodule", "foreach", ...(submodules === "recursive" ? ["--recursive"] : [])];
    if (cleanFlags.length > 0)
      w.command("git", ...foreach, `git clean ${cleanFlags.map(shellWord).join(" ")}`);
    w.command("git", ...foreach, "git reset --hard");
  }
  w.line("fi");
}

/**
 * git-lfs's filter, given on the command line: `git lfs pull` works whether or not the host ran
 * `git lfs install` (which would also install hooks into the checkout; drover installs none).
 */
const LFS_FILTER = [
  "-c",
  "filter.lfs.clean=git-lfs clean -- %f",
  "-c",
  "filter.lfs.smudge=git-lfs smudge -- %f",
  "-c",
  "filter.lfs.process=git-lfs filter-process",
  "-c",
  "filter.lfs.required=true",
];

/** A depth variable when it is a non-negative integer, else `fallback`; 0 means the full history. */
function gitDepth(table: VariableTable, fallback: number, key = "GIT_DEPTH"): number {
  const text = variableValue(table, key)?.trim() ?? "";
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
const CLEAN_FLAGS = [
  /^-[fdxXqn]+$/,
  /^--(force|quiet|dry-run)$/,
  /^(-e|--exclude)=[A-Za-z0-9_./*?@%+,:=[\]{}~^!-]+$/,
];

/**
 * The options of `git submodule update` a job may add with GIT_SUBMODULE_UPDATE_FLAGS (GitLab's
 * documented `--remote`, `--jobs 4`, `--merge`, ...). Not `--reference` (a path of the host) nor
 * anything that names a program.
 */
const SUBMODULE_UPDATE_FLAGS = [
  /^--(remote|merge|rebase|checkout|force|no-fetch|dissociate|progress|quiet)$/,
  /^--(no-)?(recommend-shallow|single-branch)$/,
  /^(--jobs=|-j)\d+$/,
  /^--filter=[A-Za-z0-9:=+._-]+$/,
];

/** Options that take their value as the next word (`--jobs 4`). */
const VALUE_OPTIONS = new Set(["--jobs", "-j", "--depth"]);

/**
 * A flags variable split on whitespace, keeping only the options `allowed` knows; "none" means no
 * flags, absent or blank means `defaults`. `--jobs 4` is read as `--jobs=4`.
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
  const words = (text === "" ? defaults : text).split(/\s+/).filter((word) => word !== "");
  const kept: string[] = [];
  for (let i = 0; i < words.length; i++) {
    let flag = words[i]!;
    if (VALUE_OPTIONS.has(flag) && /^\d+$/.test(words[i + 1] ?? "")) {
      const value = words[++i];
      flag = flag === "-j" ? `-j${value}` : `${flag}=${value}`;
    }
    if (allowed.some((pattern) => pattern.test(flag))) kept.push(flag);
    else w.warning(`${key}: ${flag} is not an option drover passes to git; left out`);
  }
  return kept;
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && parseBool(value) === true;
}

/** Refuses to generate `rm -rf` for a directory that is obviously not a project dir. */
function assertRemovable(dir: string): void {
  const normal = posix.normalize(dir);
  if (normal === "/" || normal === "." || normal === "" || normal.startsWith("..")) {
    throw new DroverError("internal", `refusing to remove project dir ${JSON.stringify(dir)}`);
  }
}
