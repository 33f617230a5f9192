/**
 * The job token, as another local user would look for it (docs/security.md, "The job token"):
 * GitLab sends the repository URL with it (`http://gitlab-ci-token:<token>@host/...`). A git server
 * on 127.0.0.1 (git http-backend behind Basic auth, the token as password) serves the repository;
 * while git fetches, a process running as `nobody` reads every /proc/<pid>/cmdline, as any user can.
 * The token must be in none of them, nor in the checkout's .git/config, and the fetch must work.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gitHttpServer } from "../../git-server.ts";
import { cleanEnv, drover, ensureBuilt, jobJson, shellRunnerConfig, tempDir } from "../../harness.ts";

ensureBuilt();

const TOKEN = "glcbt-64-Sup3rSecretJobTok3n";

test("the job token reaches git in its environment: not in any command line, not in .git/config", async () => {
  using dir = tempDir();
  const repos = join(dir.path, "srv");
  const repo = join(repos, "group", "proj.git");
  const work = join(dir.path, "work");
  const env = {
    ...cleanEnv(dir.path),
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@x",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@x",
  };
  const git = (cwd: string, ...args: string[]) => {
    const run = Bun.spawnSync(["git", ...args], { cwd, env });
    if (run.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${run.stderr}`);
    return run.stdout.toString().trim();
  };
  Bun.spawnSync(["mkdir", "-p", repo, work]);
  git(repo, "init", "-q", "--bare", "-b", "main");
  git(work, "init", "-q", "-b", "main");
  await Bun.write(join(work, "README"), "fetched over http\n");
  git(work, "add", "README");
  git(work, "commit", "-q", "-m", "first");
  git(work, "push", "-q", repo, "main");
  const sha = git(work, "rev-parse", "HEAD");

  const seenByOthers: string[] = [];
  await using server = gitHttpServer({
    root: repos,
    password: TOKEN,
    // git is waiting for this answer: everything it runs is alive now. Look as nobody.
    onRequest: () => {
      const scan = Bun.spawnSync(
        [
          "setpriv",
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "sh",
          "-c",
          'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < "$f" 2>/dev/null; echo; done',
        ],
        { env: { PATH: "/usr/bin:/bin" } },
      );
      seenByOthers.push(scan.stdout.toString());
    },
  });
  const config = shellRunnerConfig(dir, { builds_dir: join(dir.path, "builds") });
  const job = dir.file(
    "job.json",
    jobJson({
      token: TOKEN,
      git_info: {
        repo_url: `http://gitlab-ci-token:${TOKEN}@127.0.0.1:${server.port}/group/proj.git`,
        ref: "main",
        sha,
        before_sha: "0".repeat(40),
        ref_type: "branch",
        depth: 0,
      },
      variables: [{ key: "CI_PROJECT_PATH", value: "group/proj" }],
      script: ["cat README", "git remote get-url origin", "cat .git/config"],
    }),
  );
  const result = await drover(["exec", "--config", config, job], {
    cwd: dir.path,
    env: cleanEnv(dir.path),
  });
  expect(result.stdout).toContain("fetched over http");
  expect(result.exitCode).toBe(0);
  expect(result.stdout).toContain(`http://127.0.0.1:${server.port}/group/proj.git`);
  expect(seenByOthers.length).toBeGreaterThan(0);
  for (const cmdlines of seenByOthers) {
    expect(cmdlines).toContain("git"); // the scan did see git at work
    expect(cmdlines).not.toContain(TOKEN);
  }
  const projectConfig = Bun.spawnSync([
    "sh",
    "-c",
    `cat ${dir.path}/builds/*/*/group/proj/.git/config`,
  ]).stdout.toString();
  expect(projectConfig).toContain('[remote "origin"]');
  expect(projectConfig).not.toContain(TOKEN);
  expect(readFileSync(job, "utf8")).toContain(TOKEN); // (the job file itself is the administrator's)
});
