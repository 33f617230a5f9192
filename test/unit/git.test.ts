/**
 * get_sources against real git repositories made in temp dirs (no network): the rendered script is
 * run with bash, as an executor would.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  adHocJob,
  allVariables,
  type Job,
  type JobVariable,
  parseJob,
  planStages,
  renderStageScript,
} from "../../src/job/index.ts";
import { runProcess } from "../harness.ts";

const gitEnv = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  LC_ALL: "C",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "T",
  GIT_AUTHOR_EMAIL: "t@example.com",
  GIT_COMMITTER_NAME: "T",
  GIT_COMMITTER_EMAIL: "t@example.com",
};

function git(cwd: string, ...args: string[]): string {
  const result = Bun.spawnSync(["git", ...args], { cwd, env: gitEnv });
  if (result.exitCode !== 0) throw new Error(`git ${args.join(" ")} failed: ${result.stderr.toString()}`);
  return result.stdout.toString().trim();
}

/** A temp dir holding an upstream repo with commits c1, c2 on main; removed afterwards. */
interface Fixture extends AsyncDisposable {
  root: string;
  upstream: string;
  c1: string;
  c2: string;
  commit(file: string, content: string): Promise<string>;
}

async function fixture(): Promise<Fixture> {
  const root = await mkdtemp(join(tmpdir(), "drover-git-"));
  const upstream = join(root, "upstream");
  await mkdir(upstream);
  git(upstream, "init", "-q", "-b", "main");
  const commit = async (file: string, content: string) => {
    await writeFile(join(upstream, file), content);
    git(upstream, "add", file);
    git(upstream, "commit", "-q", "-m", `${file}=${content}`);
    return git(upstream, "rev-parse", "HEAD");
  };
  const c1 = await commit("a.txt", "one");
  const c2 = await commit("a.txt", "two");
  return {
    root,
    upstream,
    c1,
    c2,
    commit,
    [Symbol.asyncDispose]: () => rm(root, { recursive: true, force: true }),
  };
}

function gitJob(repoUrl: string, sha: string, variables: Record<string, string> = {}, depth = 0): Job {
  return parseJob(
    JSON.stringify({
      id: 1,
      job_info: { project_name: "proj" },
      git_info: { repo_url: repoUrl, sha, ref: "main", ref_type: "branch", depth },
      variables: [
        { key: "CI_PROJECT_PATH", value: "grp/proj" },
        ...Object.entries(variables).map(([key, value]) => ({ key, value })),
      ],
      steps: [{ name: "script", script: ["true"] }],
    }),
    "job.json",
  );
}

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
  projectDir: string;
}

async function getSources(f: Fixture, job: Job, extra: JobVariable[] = []): Promise<Run> {
  const buildsDir = join(f.root, "builds");
  const projectDir = job.adHoc?.cwd ?? join(buildsDir, job.projectPath);
  const variables = allVariables(job, {
    buildsDir,
    projectDir,
    concurrentId: 0,
    concurrentProjectId: 0,
    runnerShortToken: "short",
    runnerName: "test",
  });
  const stage = planStages(job).find((s) => s.name === "get_sources");
  if (!stage) throw new Error("get_sources not planned");
  const script = renderStageScript(stage, job, {
    projectDir,
    buildsDir,
    cacheDir: undefined,
    variables: [...variables, ...extra],
    tmpDir: `${projectDir}.tmp`,
    // The fixtures' repositories are local paths and file:// URLs.
    allowLocalRepositories: true,
  });
  const { exitCode, stdout, stderr } = await runProcess(["bash", "-s"], {
    cwd: f.root,
    env: gitEnv,
    stdin: script,
  });
  return { exitCode, stdout, stderr, projectDir };
}

const short = (sha: string) => sha.slice(0, 8);

describe("get_sources", () => {
  test("fetch into an empty dir, then fetch again: reuses the repo, cleans, checks out the new commit", async () => {
    await using f = await fixture();
    const first = await getSources(f, gitJob(f.upstream, f.c2));
    expect(first).toMatchObject({
      exitCode: 0,
      stderr: "",
      stdout: [
        "Fetching changes...",
        `Initialized empty Git repository in ${first.projectDir}/.git/`,
        "Created fresh repository.",
        `Checking out ${short(f.c2)} as detached HEAD (ref is main)...`,
        "", // `git lfs pull` (git-lfs is installed: .ci/run), then GitLab's empty line
        "Skipping Git submodules setup",
        "",
      ].join("\n"),
    });
    expect(git(first.projectDir, "rev-parse", "HEAD")).toBe(f.c2);
    expect(await readFile(join(first.projectDir, "a.txt"), "utf8")).toBe("two");
    expect(existsSync(join(first.projectDir, ".git", "hooks"))).toBe(false);

    const c3 = await f.commit("b.txt", "three");
    await writeFile(join(first.projectDir, "left-over.log"), "x");
    await writeFile(join(first.projectDir, ".git", "marker"), "kept by fetch");
    const second = await getSources(f, gitJob(f.upstream, c3));
    expect(second).toMatchObject({
      exitCode: 0,
      stderr: "",
      stdout: [
        "Fetching changes...",
        `Reinitialized existing Git repository in ${second.projectDir}/.git/`,
        `Checking out ${short(c3)} as detached HEAD (ref is main)...`,
        "Removing left-over.log",
        "",
        "Skipping Git submodules setup",
        "",
      ].join("\n"),
    });
    expect(git(second.projectDir, "rev-parse", "HEAD")).toBe(c3);
    expect(existsSync(join(second.projectDir, ".git", "marker"))).toBe(true);
    expect(existsSync(join(second.projectDir, "left-over.log"))).toBe(false);
  });

  test("clone removes the old checkout first (file:// URL); GitLab's messages are a fetch's", async () => {
    await using f = await fixture();
    const url = `file://${f.upstream}`;
    const first = await getSources(f, gitJob(url, f.c2));
    expect(first.exitCode).toBe(0);
    await writeFile(join(first.projectDir, ".git", "marker"), "gone after clone");
    const clone = await getSources(f, gitJob(url, f.c1, { GIT_STRATEGY: "clone" }));
    expect(clone).toMatchObject({ exitCode: 0, stderr: "" });
    expect(clone.stdout.split("\n").slice(0, 3)).toEqual([
      "Fetching changes...",
      `Initialized empty Git repository in ${clone.projectDir}/.git/`,
      "Created fresh repository.",
    ]);
    expect(existsSync(join(clone.projectDir, ".git", "marker"))).toBe(false);
    expect(git(clone.projectDir, "rev-parse", "HEAD")).toBe(f.c1);
  });

  test("checks out a specific older commit", async () => {
    await using f = await fixture();
    const run = await getSources(f, gitJob(f.upstream, f.c1));
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(`Checking out ${short(f.c1)} as detached HEAD (ref is main)...\n`);
    expect(git(run.projectDir, "rev-parse", "HEAD")).toBe(f.c1);
    expect(await readFile(join(run.projectDir, "a.txt"), "utf8")).toBe("one");
  });

  test("depth 1 from git_info, then GIT_DEPTH=0 deepens the shallow checkout", async () => {
    await using f = await fixture();
    const url = `file://${f.upstream}`;
    const shallow = await getSources(f, gitJob(url, f.c2, {}, 1));
    expect(shallow).toMatchObject({ exitCode: 0, stderr: "" });
    expect(shallow.stdout.split("\n")[0]).toBe("Fetching changes with git depth set to 1...");
    expect(git(shallow.projectDir, "rev-list", "--count", "HEAD")).toBe("1");
    expect(existsSync(join(shallow.projectDir, ".git", "shallow"))).toBe(true);

    const full = await getSources(f, gitJob(url, f.c2, { GIT_DEPTH: "0" }, 1));
    expect(full).toMatchObject({ exitCode: 0, stderr: "" });
    expect(git(full.projectDir, "rev-list", "--count", "HEAD")).toBe("2");
  });

  test("GIT_DEPTH overrides git_info.depth", async () => {
    await using f = await fixture();
    const run = await getSources(f, gitJob(`file://${f.upstream}`, f.c2, { GIT_DEPTH: "1" }));
    expect(run.exitCode).toBe(0);
    expect(git(run.projectDir, "rev-list", "--count", "HEAD")).toBe("1");
  });

  test("GIT_CHECKOUT=false fetches but checks nothing out", async () => {
    await using f = await fixture();
    const run = await getSources(f, gitJob(f.upstream, f.c2, { GIT_CHECKOUT: "false" }));
    expect(run).toMatchObject({ exitCode: 0, stderr: "" });
    expect(run.stdout).toContain("Skipping Git checkout\n");
    expect(run.stdout).not.toContain("Checking out");
    expect(git(run.projectDir, "rev-parse", "refs/remotes/origin/main")).toBe(f.c2);
    expect(existsSync(join(run.projectDir, "a.txt"))).toBe(false);
  });

  test("GIT_CLEAN_FLAGS=none keeps untracked files", async () => {
    await using f = await fixture();
    const first = await getSources(f, gitJob(f.upstream, f.c2));
    await writeFile(join(first.projectDir, "keep.me"), "x");
    const run = await getSources(f, gitJob(f.upstream, f.c2, { GIT_CLEAN_FLAGS: "none" }));
    expect(run.exitCode).toBe(0);
    expect(existsSync(join(run.projectDir, "keep.me"))).toBe(true);
  });

  test("none: skips git and leaves the dir alone", async () => {
    await using f = await fixture();
    const job = gitJob(f.upstream, f.c2, { GIT_STRATEGY: "none" });
    const dir = join(f.root, "builds", "grp", "proj");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "mine"), "x");
    const run = await getSources(f, job);
    expect(run).toMatchObject({ exitCode: 0, stderr: "", stdout: "Skipping Git repository setup\n" });
    expect(await readdir(dir)).toEqual(["mine"]);
  });

  test("empty: an empty project dir, no git", async () => {
    await using f = await fixture();
    const first = await getSources(f, gitJob(f.upstream, f.c2));
    expect(first.exitCode).toBe(0);
    const run = await getSources(f, gitJob(f.upstream, f.c2, { GIT_STRATEGY: "empty" }));
    expect(run).toMatchObject({
      exitCode: 0,
      stderr: "",
      stdout: "Skipping Git repository setup and creating an empty build directory\n",
    });
    expect(await readdir(run.projectDir)).toEqual([]);
  });

  test("an ad-hoc job never touches the user's directory, whatever GIT_STRATEGY says", async () => {
    await using f = await fixture();
    const job = adHocJob(["make"], { cwd: f.upstream, id: "x" });
    const strategy: JobVariable = {
      key: "GIT_STRATEGY",
      value: "empty",
      public: true,
      masked: false,
      file: false,
      raw: false,
    };
    const run = await getSources(f, job, [strategy]);
    expect(run).toMatchObject({ exitCode: 0, stderr: "", stdout: "Skipping Git repository setup\n" });
    expect(git(f.upstream, "rev-parse", "HEAD")).toBe(f.c2);
  });

  test("an unreachable repository fails the stage", async () => {
    await using f = await fixture();
    const run = await getSources(f, gitJob(join(f.root, "no-such-repo"), f.c2));
    expect(run.exitCode).toBe(128);
    expect(run.stderr).toContain("no-such-repo");
    expect(run.stdout).not.toContain("Checking out");
  });

  test("GIT_CONFIG_COUNT cannot run code through bash's arithmetic", async () => {
    await using f = await fixture();
    const marker = join(f.root, "pwned-arithmetic");
    const run = await getSources(
      f,
      gitJob(f.upstream, f.c2, { GIT_CONFIG_COUNT: "PAYLOAD", PAYLOAD: `a[$(touch ${marker})]` }),
    );
    expect(run.exitCode).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  test("GIT_CLEAN_FLAGS reaches `git submodule foreach` quoted; shell syntax in it is left out", async () => {
    await using f = await fixture();
    const marker = join(f.root, "pwned-clean");
    const run = await getSources(
      f,
      gitJob(f.upstream, f.c2, {
        GIT_SUBMODULE_STRATEGY: "normal",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell variable, as an attacker writes it
        GIT_CLEAN_FLAGS: `-ffdx --exclude=keep*.txt --exclude=x;touch${"${IFS}"}${marker}`,
      }),
    );
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("GIT_CLEAN_FLAGS: --exclude=x;touch");
    expect(existsSync(marker)).toBe(false);
  });
});
