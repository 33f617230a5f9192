/**
 * The get_sources stage: real `git` into the project dir, as GitLab Runner's `writeGetSourcesScript`
 * and `writeRefspecFetchCmd` do it (init + fetch of the refspecs, then a detached checkout of the
 * job's commit and `git clean`), honouring GIT_STRATEGY, GIT_DEPTH, GIT_CHECKOUT, GIT_CLEAN_FLAGS and
 * GIT_FETCH_EXTRA_FLAGS. Works with https/ssh URLs, `file://` URLs and plain local paths.
 *
 * Not yet: GIT_SUBMODULE_STRATEGY (warned about), GIT_CLONE_PATH, LFS, the git credential helper.
 */

import { posix } from "node:path";
import { DroverError } from "../../../kernel/errors.ts";
import { type VariableTable, variableTable, variableValue } from "../../../kernel/variables.ts";
import type { Job, ScriptContext } from "../model.ts";
import { type ScriptWriter, shellWord } from "./bash.ts";

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

  const depth = gitDepth(table, git.depth);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion
  w.line('export GIT_TERMINAL_PROMPT="${GIT_TERMINAL_PROMPT:-0}"');
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
  w.line(`if git remote add origin ${shellWord(git.repoUrl)} >/dev/null 2>&1; then`);
  w.print("Created fresh repository.");
  w.line("else");
  w.command("git", "remote", "set-url", "origin", git.repoUrl);
  w.line("fi");

  const fetch = ["fetch", "origin", "--no-recurse-submodules", ...git.refspecs];
  if (depth > 0) fetch.push("--depth", String(depth));
  fetch.push(...flags(table, "GIT_FETCH_EXTRA_FLAGS", "--prune --quiet"));
  if (depth === 0) {
    // A full fetch into a checkout left shallow by an earlier GIT_DEPTH job must deepen it.
    w.line("if [ -f .git/shallow ]; then");
    w.command("git", ...fetch, "--unshallow");
    w.line("else");
    w.command("git", ...fetch);
    w.line("fi");
  } else {
    w.command("git", ...fetch);
  }

  if (isFalse(variableValue(table, "GIT_CHECKOUT"))) {
    w.print("Skipping Git checkout");
  } else {
    w.print(`Checking out ${git.sha.slice(0, 8)} as ${git.ref}...`);
    w.command("git", "checkout", "-f", "-q", git.sha);
    const clean = flags(table, "GIT_CLEAN_FLAGS", "-ffdx");
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

/** A flags variable split on whitespace; "none" means no flags, absent or blank means `defaults`. */
function flags(table: VariableTable, key: string, defaults: string): string[] {
  const text = variableValue(table, key)?.trim() ?? "";
  if (text === "none") return [];
  return (text === "" ? defaults : text).split(/\s+/);
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
