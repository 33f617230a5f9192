/**
 * get_sources as GitLab Runner does it (shells/abstract.go), against the compiled binary and real
 * git: GitLab's messages, submodules (GIT_SUBMODULE_STRATEGY, _PATHS, _DEPTH, _UPDATE_FLAGS), Git
 * LFS (git-lfs is installed by .ci/run) and the runner's `clone_url` with a git server on 127.0.0.1.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { gitHttpServer } from "../git-server.ts";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  jobJson,
  shellRunnerConfig,
  type TempDir,
  tempDir,
} from "../harness.ts";

ensureBuilt();

function env(dir: TempDir): Record<string, string> {
  return cleanEnv(dir.path, {
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_AUTHOR_NAME: "T",
    GIT_AUTHOR_EMAIL: "t@example.com",
    GIT_COMMITTER_NAME: "T",
    GIT_COMMITTER_EMAIL: "t@example.com",
  });
}

function gitIn(dir: TempDir) {
  return (cwd: string, ...args: string[]): string => {
    const run = Bun.spawnSync(["git", "-c", "protocol.file.allow=always", ...args], { cwd, env: env(dir) });
    if (run.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${run.stderr.toString()}`);
    return run.stdout.toString().trim();
  };
}

/** A repository at `path` with one commit of `files`; returns its HEAD. */
async function repository(
  dir: TempDir,
  path: string,
  files: Record<string, string>,
  branch = "main",
): Promise<string> {
  const git = gitIn(dir);
  mkdirSync(path, { recursive: true });
  git(path, "init", "-q", "-b", branch);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(path, name, ".."), { recursive: true });
    await Bun.write(join(path, name), content);
    git(path, "add", name);
  }
  git(path, "commit", "-q", "-m", "first");
  return git(path, "rev-parse", "HEAD");
}

interface Fetch {
  exitCode: number;
  stdout: string;
  /** The checkout (`CI_PROJECT_DIR`), which the job printed. */
  projectDir: string;
}

async function fetchJob(
  dir: TempDir,
  git: { url: string; sha: string; ref?: string },
  variables: Record<string, string> = {},
  runner: Record<string, unknown> = {},
  script: string[] = [],
): Promise<Fetch> {
  const config = shellRunnerConfig(dir, {
    builds_dir: join(dir.path, "builds"),
    allow_local_repositories: true,
    ...runner,
  });
  const file = dir.file(
    "job.json",
    jobJson({
      git_info: { repo_url: git.url, sha: git.sha, ref: git.ref ?? "main", ref_type: "branch" },
      variables: [
        { key: "CI_PROJECT_PATH", value: "group/proj" },
        ...Object.entries(variables).map(([key, value]) => ({ key, value })),
      ],
      script: ['echo "project_dir=$CI_PROJECT_DIR"', ...script],
    }),
  );
  const result = await drover(["exec", "--config", config, file], { cwd: dir.path, env: env(dir) });
  const projectDir = /^project_dir=(\S+)$/m.exec(result.stdout)?.[1] ?? "";
  return { exitCode: result.exitCode, stdout: result.stdout, projectDir };
}

describe("GitLab's messages", () => {
  test("a first fetch, a detached checkout of a branch named other", async () => {
    using dir = tempDir();
    const upstream = join(dir.path, "upstream");
    const sha = await repository(dir, upstream, { "a.txt": "a" }, "other");
    const run = await fetchJob(dir, { url: upstream, sha, ref: "other" });
    expect(run.exitCode).toBe(0);
    const lines = run.stdout.split("\n");
    const from = lines.indexOf("Fetching changes...");
    expect(lines.slice(from, from + 6)).toEqual([
      "Fetching changes...",
      `Initialized empty Git repository in ${run.projectDir}/.git/`,
      "Created fresh repository.",
      `Checking out ${sha.slice(0, 8)} as detached HEAD (ref is other)...`,
      "", // `git lfs pull`, then GitLab's empty line
      "Skipping Git submodules setup",
    ]);
  });
});

describe("submodules", () => {
  /** main → libs/one (→ deep), libs/two; all file:// URLs. */
  async function world(dir: TempDir) {
    const git = gitIn(dir);
    const deep = join(dir.path, "deep");
    const one = join(dir.path, "one");
    const two = join(dir.path, "two");
    const main = join(dir.path, "main");
    await repository(dir, deep, { "deep.txt": "deep", "more.txt": "x" });
    await Bun.write(join(deep, "more.txt"), "second commit");
    git(deep, "commit", "-q", "-am", "second");
    await repository(dir, one, { "one.txt": "one" });
    git(one, "submodule", "add", "-q", `file://${deep}`, "deep");
    git(one, "commit", "-q", "-m", "add deep");
    await repository(dir, two, { "two.txt": "two" });
    await Bun.write(join(two, "two.txt"), "two again");
    git(two, "commit", "-q", "-am", "second");
    await repository(dir, main, { "main.txt": "main" });
    git(main, "submodule", "add", "-q", `file://${one}`, "libs/one");
    git(main, "submodule", "add", "-q", `file://${two}`, "libs/two");
    git(main, "commit", "-q", "-m", "add submodules");
    return { url: `file://${main}`, sha: git(main, "rev-parse", "HEAD") };
  }

  test("normal: the first level, GitLab's messages", async () => {
    using dir = tempDir();
    const repo = await world(dir);
    const run = await fetchJob(dir, repo, { GIT_SUBMODULE_STRATEGY: "normal" });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("Updating/initializing submodules...\n");
    expect(run.stdout).toContain("Updated submodules\n");
    expect(await Bun.file(join(run.projectDir, "libs/one/one.txt")).text()).toBe("one");
    expect(await Bun.file(join(run.projectDir, "libs/two/two.txt")).text()).toBe("two again");
    expect(await Bun.file(join(run.projectDir, "libs/one/deep/deep.txt")).exists()).toBe(false);
  });

  test("recursive, only GIT_SUBMODULE_PATHS, with GIT_SUBMODULE_DEPTH", async () => {
    using dir = tempDir();
    const repo = await world(dir);
    const run = await fetchJob(dir, repo, {
      GIT_SUBMODULE_STRATEGY: "recursive",
      GIT_SUBMODULE_PATHS: "libs/one",
      GIT_SUBMODULE_DEPTH: "1",
    });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("Updating/initializing submodules recursively with git depth set to 1...\n");
    expect(await Bun.file(join(run.projectDir, "libs/one/deep/more.txt")).text()).toBe("second commit");
    expect(await Bun.file(join(run.projectDir, "libs/two/two.txt")).exists()).toBe(false);
    const count = gitIn(dir)(join(run.projectDir, "libs/one/deep"), "rev-list", "--count", "HEAD");
    expect(count).toBe("1");
  });

  test("GIT_SUBMODULE_UPDATE_FLAGS: GitLab's options pass, one that runs a program is left out", async () => {
    using dir = tempDir();
    const repo = await world(dir);
    const run = await fetchJob(dir, repo, {
      GIT_SUBMODULE_STRATEGY: "normal",
      GIT_SUBMODULE_UPDATE_FLAGS: "--jobs 2 --upload-pack=touch-pwned --no-recommend-shallow",
    });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(
      "WARNING: GIT_SUBMODULE_UPDATE_FLAGS: --upload-pack=touch-pwned is not an option drover passes to git; left out\n",
    );
    expect(await Bun.file(join(run.projectDir, "libs/two/two.txt")).text()).toBe("two again");
  });

  test("an unknown GIT_SUBMODULE_STRATEGY fails get_sources and says why", async () => {
    using dir = tempDir();
    const repo = await world(dir);
    const run = await fetchJob(dir, repo, { GIT_SUBMODULE_STRATEGY: "deep" });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain(
      'ERROR: GIT_SUBMODULE_STRATEGY: unknown value "deep" (expected none, normal or recursive)\n',
    );
  });

  test("a lone :(exclude) in GIT_SUBMODULE_PATHS is refused, as GitLab refuses it", async () => {
    using dir = tempDir();
    const repo = await world(dir);
    const run = await fetchJob(dir, repo, {
      GIT_SUBMODULE_STRATEGY: "normal",
      GIT_SUBMODULE_PATHS: ":(exclude)",
    });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain('ERROR: GIT_SUBMODULE_PATHS: invalid submodule pathspec ":(exclude)"\n');
  });
});

describe("Git LFS", () => {
  test("git-lfs is installed (.ci/run installs it; without it these tests cannot say anything)", () => {
    const version = Bun.spawnSync(["git", "lfs", "version"]);
    if (version.exitCode !== 0)
      throw new Error("git-lfs is not installed: apt-get install git-lfs (.ci/run does)");
    expect(version.stdout.toString()).toStartWith("git-lfs/");
  });

  async function lfsRepository(dir: TempDir) {
    const git = gitIn(dir);
    const upstream = join(dir.path, "lfs-upstream");
    mkdirSync(upstream);
    git(upstream, "init", "-q", "-b", "main");
    git(upstream, "lfs", "install", "--local");
    git(upstream, "lfs", "track", "*.bin");
    await Bun.write(join(upstream, "data.bin"), "large binary content\n");
    git(upstream, "add", ".gitattributes", "data.bin");
    git(upstream, "commit", "-q", "-m", "lfs");
    return { url: `file://${upstream}`, sha: git(upstream, "rev-parse", "HEAD") };
  }

  test("the LFS objects are pulled after the checkout", async () => {
    using dir = tempDir();
    const repo = await lfsRepository(dir);
    const run = await fetchJob(dir, repo);
    expect(run.exitCode).toBe(0);
    expect(await Bun.file(join(run.projectDir, "data.bin")).text()).toBe("large binary content\n");
  });

  test("GIT_LFS_SKIP_SMUDGE=1: the pointers stay", async () => {
    using dir = tempDir();
    const repo = await lfsRepository(dir);
    const run = await fetchJob(dir, repo, { GIT_LFS_SKIP_SMUDGE: "1" });
    expect(run.exitCode).toBe(0);
    expect(await Bun.file(join(run.projectDir, "data.bin")).text()).toStartWith("version https://git-lfs");
  });
});

describe("clone_url", () => {
  test("fetches <clone_url>/<project path>.git with the job token, not the payload's URL", async () => {
    using dir = tempDir();
    const repos = join(dir.path, "srv");
    const bare = join(repos, "group", "proj.git");
    const work = join(dir.path, "work");
    const git = gitIn(dir);
    const sha = await repository(dir, work, { README: "from the mirror\n" });
    mkdirSync(bare, { recursive: true });
    git(bare, "init", "-q", "--bare", "-b", "main");
    git(work, "push", "-q", bare, "main");
    await using server = gitHttpServer({ root: repos, password: "job-token-xyz" });
    const run = await fetchJob(
      dir,
      { url: "https://gitlab-ci-token:job-token-xyz@gitlab.invalid/group/proj.git", sha },
      {},
      { clone_url: server.url },
      ["cat README", "git remote get-url origin"],
    );
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("\nfrom the mirror\n");
    expect(run.stdout).toContain(`\n${server.url}/group/proj.git\n`);
    expect(server.requests.length).toBeGreaterThan(0);
  });
});
