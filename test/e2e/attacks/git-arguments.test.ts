/**
 * A job (or a hostile coordinator) handing git an option or a transport that runs a command, during
 * get_sources (docs/security.md, "Git"): every git argument from the payload is checked before it
 * reaches a script, and positional ones come after `--end-of-options`.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  jobJson,
  shellRunnerConfig,
  type TempDir,
  tempDir,
} from "../../harness.ts";

ensureBuilt();

/** A repository with one commit; its path and the commit's sha. */
function repository(dir: TempDir): { path: string; sha: string } {
  const path = join(dir.path, "repo");
  const git = (...args: string[]) => {
    const run = Bun.spawnSync(["git", "-C", path, ...args], {
      env: {
        ...cleanEnv(dir.path),
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@x",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@x",
      },
    });
    if (run.exitCode !== 0) throw new Error(run.stderr.toString());
    return run.stdout.toString().trim();
  };
  Bun.spawnSync(["git", "init", "-q", "-b", "main", path]);
  Bun.write(join(path, "README"), "hello\n");
  git("add", "README");
  git("commit", "-q", "-m", "first");
  return { path, sha: git("rev-parse", "HEAD") };
}

async function runJob(
  dir: TempDir,
  gitInfo: Record<string, unknown>,
  variables: Array<Record<string, unknown>> = [],
  runner: Record<string, unknown> = {},
) {
  const config = shellRunnerConfig(dir, { builds_dir: join(dir.path, "builds"), ...runner });
  const job = dir.file(
    "job.json",
    jobJson({
      git_info: { ref: "main", ref_type: "branch", before_sha: "0".repeat(40), depth: 0, ...gitInfo },
      variables: [{ key: "CI_PROJECT_PATH", value: "group/proj" }, ...variables],
      script: ["cat README"],
    }),
  );
  return drover(["exec", "--config", config, job], { cwd: dir.path, env: cleanEnv(dir.path) });
}

describe("git arguments from the job", () => {
  test("a refspec that is an option (--upload-pack=<command>) is refused before anything runs", async () => {
    using dir = tempDir();
    const repo = repository(dir);
    const pwned = join(dir.path, "pwned-refspec");
    const result = await runJob(dir, {
      repo_url: repo.path,
      sha: repo.sha,
      refspecs: [`--upload-pack=touch ${pwned}; git-upload-pack`],
    });
    expect(result.stderr).toContain("git_info.refspecs[0]: refusing refspec");
    expect(result.exitCode).toBe(64);
    expect(existsSync(pwned)).toBe(false);
  });

  test.each([
    ["a remote helper that runs a command", (pwned: string) => `ext::sh -c touch% ${pwned}`],
    ["a URL that is an option", (pwned: string) => `--upload-pack=touch ${pwned}`],
    ["a transport drover does not speak", (pwned: string) => `ftp://example.invalid/${pwned}`],
  ])("a repository URL that is %s is refused", async (_, url) => {
    using dir = tempDir();
    const pwned = join(dir.path, "pwned-url");
    const result = await runJob(dir, { repo_url: url(pwned), sha: "0".repeat(40) });
    expect(result.stderr).toContain("git_info.repo_url: refusing repository URL");
    expect(result.exitCode).toBe(64);
    expect(existsSync(pwned)).toBe(false);
  });

  test("a ref that is an option is refused", async () => {
    using dir = tempDir();
    const repo = repository(dir);
    const result = await runJob(dir, { repo_url: repo.path, sha: repo.sha, ref: "--orphan=x" });
    expect(result.stderr).toContain("git_info.ref: refusing ref");
    expect(result.exitCode).toBe(64);
  });

  test("GIT_FETCH_EXTRA_FLAGS: an option that runs a program is left out, with a warning; the job goes on", async () => {
    using dir = tempDir();
    const repo = repository(dir);
    const pwned = join(dir.path, "pwned-flags");
    const result = await runJob(dir, { repo_url: repo.path, sha: repo.sha }, [
      { key: "GIT_FETCH_EXTRA_FLAGS", value: `--prune -c core.sshCommand=x --upload-pack=touch${pwned}` },
      { key: "GIT_CLEAN_FLAGS", value: "-ffdx --exec=touch" },
    ]);
    expect(result.stdout).toContain(
      `WARNING: GIT_FETCH_EXTRA_FLAGS: --upload-pack=touch${pwned} is not an option drover passes to git; left out`,
    );
    expect(result.stdout).toContain(
      "WARNING: GIT_FETCH_EXTRA_FLAGS: -c is not an option drover passes to git",
    );
    expect(result.stdout).toContain(
      "WARNING: GIT_CLEAN_FLAGS: --exec=touch is not an option drover passes to git",
    );
    expect(result.stdout).toContain("hello");
    expect(result.exitCode).toBe(0);
    expect(existsSync(pwned)).toBe(false);
  });

  test("a local repository where the runner does not allow them: a configuration error, nothing fetched", async () => {
    using dir = tempDir();
    const repo = repository(dir);
    const result = await runJob(dir, { repo_url: `file://${repo.path}`, sha: repo.sha }, [], {
      allow_local_repositories: false,
    });
    expect(result.stdout).toContain("refusing to fetch from a local repository");
    expect(result.stdout).toContain("runner_configuration_error");
    expect(result.stdout).not.toContain("hello");
    expect(result.exitCode).toBe(78);
  });
});
