/**
 * GitLab Runner's clear_worktree stage (shells/abstract.go writeClearWorktreeScript), run before
 * get_sources is tried again: in the project dir, when it exists, `git rm -rf --ignore-unmatch .`
 * then `git clean -ffdx`, because a broken checkout (submodules) can make every later fetch fail.
 */
import { ScriptWriter, shellWord } from "./bash.ts";

export function clearWorktreeScript(
  projectDir: string,
  job?: { trackingId: string; cgroup: string },
): string {
  return new ScriptWriter(job)
    .print("Deleting tracked and untracked files...")
    .line(`if [ -d ${shellWord(projectDir)} ]; then`)
    .command("cd", projectDir)
    .command("git", "rm", "-rf", "--ignore-unmatch", ".")
    .command("git", "clean", "-ffdx")
    .line("fi")
    .build("clear_worktree");
}
