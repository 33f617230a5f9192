// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are shell and GitLab variable references
/**
 * Stage scripts run with the real `bash`: quoting, echo, exit codes, file variables, local cache.
 * Each test works in its own temp dir, removed afterwards.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  allVariables,
  type Job,
  type JobVariable,
  type PlannedStage,
  parseJob,
  planStages,
  renderStageScript,
  type ScriptContext,
} from "../../src/job/index.ts";
import { BUN, ROOT, runProcess } from "../harness.ts";

/** `value` as one sh word. */
function quoteShell(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

interface TempDir extends AsyncDisposable {
  path: string;
}

async function tempDir(): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), "drover-script-"));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `script` with bash, as a file (default) or on stdin, in a clean environment. */
async function runBash(script: string, dir: string, how: "file" | "stdin" = "file"): Promise<Run> {
  const file = join(dir, `script-${Math.random().toString(36).slice(2)}.sh`);
  await writeFile(file, script, { mode: 0o700 });
  const { exitCode, stdout, stderr } = await runProcess(how === "file" ? ["bash", file] : ["bash"], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      LC_ALL: "C",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
    },
    ...(how === "stdin" ? { stdin: script } : {}),
  });
  return { exitCode, stdout, stderr };
}

function variable(key: string, value: string): JobVariable {
  return { key, value, public: true, masked: false, file: false, raw: false };
}

function makeJob(extra: Record<string, unknown>): Job {
  return parseJob(
    JSON.stringify({ id: 5, token: "tok", steps: [{ name: "script", script: ["true"] }], ...extra }),
    "job.json",
  );
}

function contextFor(job: Job, root: string, extra: JobVariable[] = []): ScriptContext {
  const projectDir = join(root, "builds", "grp", "proj");
  const buildsDir = join(root, "builds");
  const variables = allVariables(job, {
    buildsDir,
    projectDir,
    concurrentId: 0,
    concurrentProjectId: 0,
    runnerShortToken: "short",
    runnerName: "test",
    jobStatus: "running",
  });
  return {
    projectDir,
    buildsDir,
    cacheDir: join(root, "cache"),
    variables: [...variables, ...extra],
    tmpDir: `${projectDir}.tmp`,
  };
}

function stage(job: Job, name: string): PlannedStage {
  const found = planStages(job).find((s) => s.name === name);
  if (!found) throw new Error(`no stage ${name} in the plan`);
  return found;
}

/** Renders and runs one stage of `job`; the project dir is created first unless told otherwise. */
async function runStage(
  job: Job,
  name: string,
  ctx: ScriptContext,
  how: "file" | "stdin" = "file",
): Promise<Run> {
  await mkdir(ctx.projectDir, { recursive: true });
  return runBash(renderStageScript(stage(job, name), job, ctx), ctx.buildsDir, how);
}

const awkward: Record<string, string> = {
  QUOTE: "it's 'quoted' \"twice\"",
  SUBST: "$(touch pwned) `touch pwned2`",
  NEWLINES: "line 1\nline 2\r\n\ttabbed\n",
  BACKSLASH: "a\\nb\\\\c\\",
  UNICODE: "héllo ✓ \u{1F600}",
  EMPTY: "",
  GLOB: "* ? [a-z]",
  DASH: "-n -e",
};

describe("variables survive byte for byte", () => {
  for (const how of ["file", "stdin"] as const) {
    test(`exported and read back (script as ${how})`, async () => {
      await using dir = await tempDir();
      const variables = [
        ...Object.entries(awkward).map(([key, value]) => ({ key, value })),
        { key: "REF", value: "[$QUOTE]" },
        { key: "RAW", value: "[$QUOTE] ${HOME}", raw: true },
        // Expanded like GitLab Runner does, against job variables only: HOME is not one.
        { key: "HOST_VAR", value: "[${HOME}]" },
      ];
      const keys = variables.map((v) => v.key);
      const job = makeJob({
        variables,
        steps: [
          { name: "script", script: keys.map((k) => `printf '%s' "$${k}" > "$CI_PROJECT_DIR/${k}.out"`) },
        ],
      });
      const ctx = contextFor(job, dir.path);
      const run = await runStage(job, "build_script", ctx, how);
      expect(run.stderr).toBe("");
      expect(run.exitCode).toBe(0);
      for (const [key, value] of Object.entries({
        ...awkward,
        REF: `[${awkward.QUOTE}]`,
        RAW: "[$QUOTE] ${HOME}",
        HOST_VAR: "[]",
      })) {
        expect(await readFile(join(ctx.projectDir, `${key}.out`), "utf8")).toBe(value);
      }
      expect(existsSync(join(dir.path, "builds", "grp", "proj", "pwned"))).toBe(false);
      expect(existsSync(join(ctx.projectDir, "pwned2"))).toBe(false);
    });
  }

  test("a variable from extra env that bash cannot name is skipped with a warning", async () => {
    await using dir = await tempDir();
    const job = makeJob({ steps: [{ name: "script", script: ['echo "ok=$OK"'] }] });
    const bad = { key: "NOT-A-NAME", value: "x", public: true, masked: false, file: false, raw: false };
    const ok = { ...bad, key: "OK", value: "yes" };
    const run = await runStage(job, "build_script", contextFor(job, dir.path, [bad, ok]));
    expect(run).toEqual({
      exitCode: 0,
      stdout: 'WARNING: variable "NOT-A-NAME" is not a valid name, not exported\n$ echo "ok=$OK"\nok=yes\n',
      stderr: "",
    });
  });
});

describe("user commands", () => {
  test("each echoed as `$ line`, multi-line commands collapsed, blank lines kept", async () => {
    await using dir = await tempDir();
    const job = makeJob({
      steps: [
        {
          name: "script",
          script: ["  echo one  ", "", "if true; then\n  echo two\nfi", "cat <<'EOF'\n$ not expanded\nEOF"],
        },
      ],
    });
    const run = await runStage(job, "build_script", contextFor(job, dir.path));
    expect(run).toEqual({
      exitCode: 0,
      stdout: [
        "$ echo one",
        "one",
        "",
        "$ if true; then # collapsed multi-line command",
        "two",
        "$ cat <<'EOF' # collapsed multi-line command",
        "$ not expanded",
        "",
      ].join("\n"),
      stderr: "",
    });
  });

  test.each([
    [["echo before", "exit 7", "echo after"], 7, "$ echo before\nbefore\n$ exit 7\n"],
    [["false", "echo after"], 1, "$ false\n"],
    [["false | true", "echo after"], 1, "$ false | true\n"],
    [["sh -c 'exit 42'"], 42, "$ sh -c 'exit 42'\n"],
    [["true", "echo fine"], 0, "$ true\n$ echo fine\nfine\n"],
  ])("%j exits %d", async (script, exitCode, stdout) => {
    await using dir = await tempDir();
    const job = makeJob({ steps: [{ name: "script", script }] });
    const run = await runStage(job, "build_script", contextFor(job, dir.path));
    expect({ exitCode: run.exitCode, stdout: run.stdout }).toEqual({ exitCode, stdout });
  });

  test("commands read an empty stdin, even when the script itself comes on stdin", async () => {
    await using dir = await tempDir();
    const job = makeJob({
      steps: [{ name: "script", script: ["read -r line || echo empty stdin", "echo still here"] }],
    });
    const run = await runStage(job, "build_script", contextFor(job, dir.path), "stdin");
    expect(run).toEqual({
      exitCode: 0,
      stdout: "$ read -r line || echo empty stdin\nempty stdin\n$ echo still here\nstill here\n",
      stderr: "",
    });
  });

  test("commands run in the project dir", async () => {
    await using dir = await tempDir();
    const job = makeJob({ steps: [{ name: "script", script: ["pwd"] }] });
    const ctx = contextFor(job, dir.path);
    const run = await runStage(job, "build_script", ctx);
    expect(run.stdout).toBe(`$ pwd\n${ctx.projectDir}\n`);
  });

  test("after_script sees CI_JOB_STATUS from its variables, says it runs, and runs other steps' way", async () => {
    await using dir = await tempDir();
    const job = makeJob({
      steps: [
        { name: "script", script: ["true"] },
        { name: "after_script", script: ['echo "status=$CI_JOB_STATUS"'] },
      ],
    });
    const base = contextFor(job, dir.path);
    const ctx = {
      ...base,
      variables: [
        ...base.variables.filter((v) => v.key !== "CI_JOB_STATUS"),
        variable("CI_JOB_STATUS", "timedout"),
      ],
    };
    const run = await runStage(job, "after_script", ctx);
    expect(run).toEqual({
      exitCode: 0,
      stdout: 'Running after script...\n$ echo "status=$CI_JOB_STATUS"\nstatus=timedout\n',
      stderr: "",
    });
  });

  test("prepare_script says where it runs", async () => {
    await using dir = await tempDir();
    const job = makeJob({});
    const run = await runBash(
      renderStageScript(stage(job, "prepare_script"), job, contextFor(job, dir.path)),
      dir.path,
    );
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^Running on \S+\.\.\.\n$/);
  });
});

describe("file variables", () => {
  test("written 0600 into a 0700 tmp dir, exported as their path, removed by cleanup_file_variables", async () => {
    await using dir = await tempDir();
    const content = "-----BEGIN KEY-----\nit's $(secret)\n";
    const job = makeJob({
      variables: [{ key: "SSH_KEY", value: content, file: true, masked: true }],
      steps: [{ name: "script", script: ['echo "$SSH_KEY"', 'cat "$SSH_KEY"'] }],
    });
    const ctx = contextFor(job, dir.path);
    const path = join(ctx.tmpDir, "SSH_KEY");
    const run = await runStage(job, "build_script", ctx);
    expect(run).toEqual({
      exitCode: 0,
      stdout: `$ echo "$SSH_KEY"\n${path}\n$ cat "$SSH_KEY"\n${content}`,
      stderr: "",
    });
    expect(await readFile(path, "utf8")).toBe(content);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(ctx.tmpDir).mode & 0o777).toBe(0o700);

    const cleanup = await runStage(job, "cleanup_file_variables", ctx);
    expect(cleanup).toEqual({ exitCode: 0, stdout: "", stderr: "" });
    expect(existsSync(path)).toBe(false);
    expect(existsSync(ctx.tmpDir)).toBe(false);
  });
});

describe("local cache (drover's cache-archiver and cache-extractor, run from source)", () => {
  const cacheJob = (cache: unknown[], script: string[] = ["true"]) =>
    makeJob({
      cache,
      steps: [{ name: "script", script }],
      git_info: { repo_url: "/nowhere", sha: "a".repeat(40), ref: "Main" },
    });
  /** The helper as a stage script calls it: here drover's source through bun (no build needed). */
  const withHelper = (ctx: ScriptContext, dir: string): ScriptContext => {
    const helper = join(dir, "drover-helper");
    writeFileSync(
      helper,
      `#!/bin/sh\nexec ${quoteShell(BUN)} ${quoteShell(join(ROOT, "src", "main.ts"))} "$@"\n`,
      { mode: 0o755 },
    );
    return { ...ctx, helper };
  };
  const NO_URL_EXTRACT =
    "No URL provided, cache will not be downloaded from shared cache server. Instead a local version of cache will be extracted.";
  const NO_URL_ARCHIVE =
    "No URL provided, cache will not be uploaded to shared cache server. Cache will be stored only locally.";

  test("restore without a cache: GitLab's warnings, the stage succeeds", async () => {
    await using dir = await tempDir();
    const job = cacheJob([{ key: "deps", paths: ["vendor"] }]);
    const ctx = withHelper(contextFor(job, dir.path), dir.path);
    await mkdir(ctx.projectDir, { recursive: true });
    const run = await runStage(job, "restore_cache", ctx);
    expect(run).toEqual({
      exitCode: 0,
      stdout: `Checking cache for deps...\n${NO_URL_EXTRACT}\nWARNING: file does not exist\nWARNING: Failed to extract cache\n`,
      stderr: "",
    });
  });

  test("archive then restore into a fresh project dir (globs, expanded key; a pattern is never run)", async () => {
    await using dir = await tempDir();
    const job = cacheJob([
      { key: "$CI_COMMIT_REF_SLUG-deps", paths: ["vendor", "**/*.o", "missing", "$(touch pwned)*"] },
    ]);
    const ctx = withHelper(contextFor(job, dir.path), dir.path);
    await mkdir(join(ctx.projectDir, "vendor", "lib"), { recursive: true });
    await mkdir(join(ctx.projectDir, "src", "deep"), { recursive: true });
    await writeFile(join(ctx.projectDir, "vendor", "lib", "x.txt"), "vendored\n");
    await writeFile(join(ctx.projectDir, "src", "deep", "a.o"), "object\n");
    await writeFile(join(ctx.projectDir, "top.o"), "top\n");
    await writeFile(join(ctx.projectDir, "not-cached"), "no\n");

    const archive = await runStage(job, "archive_cache", ctx);
    expect(archive).toEqual({
      exitCode: 0,
      stdout: [
        "Creating cache main-deps...",
        "vendor: found 3 matching artifact files and directories",
        "**/*.o: found 2 matching artifact files and directories",
        `WARNING: missing: no matching files. Ensure that the artifact path is relative to the working directory (${ctx.projectDir})`,
        `WARNING: $(touch pwned)*: no matching files. Ensure that the artifact path is relative to the working directory (${ctx.projectDir})`,
        NO_URL_ARCHIVE,
        "Created cache",
        "",
      ].join("\n"),
      stderr: "",
    });
    expect(existsSync(join(dir.path, "cache", "main-deps", "cache.zip"))).toBe(true);
    expect(existsSync(join(ctx.projectDir, "pwned"))).toBe(false);

    await rm(ctx.projectDir, { recursive: true });
    await mkdir(ctx.projectDir, { recursive: true });
    const restore = await runStage(job, "restore_cache", ctx);
    expect(restore).toEqual({
      exitCode: 0,
      stdout: `Checking cache for main-deps...\n${NO_URL_EXTRACT}\nSuccessfully extracted cache\n`,
      stderr: "",
    });
    expect(await readFile(join(ctx.projectDir, "vendor", "lib", "x.txt"), "utf8")).toBe("vendored\n");
    expect(await readFile(join(ctx.projectDir, "src", "deep", "a.o"), "utf8")).toBe("object\n");
    expect(await readFile(join(ctx.projectDir, "top.o"), "utf8")).toBe("top\n");
    expect(existsSync(join(ctx.projectDir, "not-cached"))).toBe(false);
  });

  test("a key that leads up is sanitized as GitLab does (a warning); paths outside the project are refused", async () => {
    await using dir = await tempDir();
    const job = cacheJob([{ key: "../escape", paths: ["../up", "/abs", "x"] }]);
    const ctx = withHelper(contextFor(job, dir.path), dir.path);
    await mkdir(ctx.projectDir, { recursive: true });
    await writeFile(join(ctx.projectDir, "x"), "x");
    const run = await runStage(job, "archive_cache", ctx);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(
      'WARNING: cache key "../escape" sanitized to "escape"\nCreating cache escape...\n',
    );
    expect(run.stdout).toContain("WARNING: ../up: no matching files.");
    expect(run.stdout).toContain("WARNING: /abs: not supported: outside build directory\n");
    expect(run.stdout).toContain("x: found 1 matching artifact files and directories\n");
    expect(existsSync(join(dir.path, "cache", "escape", "cache.zip"))).toBe(true);
    expect(existsSync(join(dir.path, "escape"))).toBe(false);
  });

  test("nothing matched: GitLab's warning, nothing written, the stage succeeds", async () => {
    await using dir = await tempDir();
    const job = cacheJob([{ key: "k", paths: ["nothing"] }]);
    const ctx = withHelper(contextFor(job, dir.path), dir.path);
    await mkdir(ctx.projectDir, { recursive: true });
    const run = await runStage(job, "archive_cache", ctx);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("WARNING: No files to cache.\nCreated cache\n");
    expect(existsSync(join(dir.path, "cache", "k", "cache.zip"))).toBe(false);
  });

  test("untracked caches what git does not track", async () => {
    await using dir = await tempDir();
    const job = cacheJob([{ key: "u", untracked: true }]);
    const ctx = withHelper(contextFor(job, dir.path), dir.path);
    await mkdir(ctx.projectDir, { recursive: true });
    const git = (...args: string[]) =>
      Bun.spawnSync(["git", ...args], {
        cwd: ctx.projectDir,
        env: { PATH: process.env.PATH ?? "", GIT_CONFIG_GLOBAL: "/dev/null" },
      });
    expect(git("init", "-q").exitCode).toBe(0);
    await writeFile(join(ctx.projectDir, "tracked"), "t");
    expect(git("add", "tracked").exitCode).toBe(0);
    await writeFile(join(ctx.projectDir, "build.log"), "u");
    const run = await runStage(job, "archive_cache", ctx);
    expect(run.stdout).toBe(
      `Creating cache u...\nuntracked: found 1 files\n${NO_URL_ARCHIVE}\nCreated cache\n`,
    );
    const list = Bun.spawnSync(["unzip", "-Z1", join(dir.path, "cache", "u", "cache.zip")]);
    expect(list.stdout.toString()).toBe("build.log\n");
  });

  test("without the helper where the job runs: GitLab's warning, the stage succeeds", async () => {
    await using dir = await tempDir();
    const job = cacheJob([{ key: "k", paths: ["x"] }]);
    const ctx = { ...contextFor(job, dir.path), helper: join(dir.path, "no-such-drover") };
    await mkdir(ctx.projectDir, { recursive: true });
    const run = await runStage(job, "restore_cache", ctx);
    expect(run).toEqual({
      exitCode: 0,
      stdout: `WARNING: Missing ${join(dir.path, "no-such-drover")}. Extracting cache is disabled.\n`,
      stderr: "",
    });
  });

  test("fallback keys: the first key with a cache is extracted; CACHE_FALLBACK_KEY last, never a protected one", async () => {
    await using dir = await tempDir();
    const build = cacheJob([{ key: "fallback-$CI_COMMIT_REF_SLUG", paths: ["vendor"] }]);
    const buildCtx = withHelper(contextFor(build, dir.path), dir.path);
    await mkdir(join(buildCtx.projectDir, "vendor"), { recursive: true });
    await writeFile(join(buildCtx.projectDir, "vendor", "dep"), "from the fallback\n");
    expect((await runStage(build, "archive_cache", buildCtx)).exitCode).toBe(0);
    await rm(buildCtx.projectDir, { recursive: true });

    const job = makeJob({
      cache: [
        { key: "feature-x", fallback_keys: ["none-$CI_COMMIT_REF_SLUG", "fallback-main"], paths: ["vendor"] },
      ],
      steps: [{ name: "script", script: ["true"] }],
      git_info: { repo_url: "/nowhere", sha: "a".repeat(40), ref: "Main" },
      variables: [{ key: "CACHE_FALLBACK_KEY", value: "main-protected", public: true }],
    });
    const ctx = withHelper(contextFor(job, dir.path), dir.path);
    await mkdir(ctx.projectDir, { recursive: true });
    const run = await runStage(job, "restore_cache", ctx);
    expect(run).toEqual({
      exitCode: 0,
      stdout: [
        'WARNING: CACHE_FALLBACK_KEY "main-protected" not allowed to end in "-protected"',
        "Checking cache for feature-x...",
        NO_URL_EXTRACT,
        "WARNING: file does not exist",
        "WARNING: Failed to extract cache",
        "Checking cache for none-main...",
        NO_URL_EXTRACT,
        "WARNING: file does not exist",
        "WARNING: Failed to extract cache",
        "Checking cache for fallback-main...",
        NO_URL_EXTRACT,
        "Successfully extracted cache",
        "",
      ].join("\n"),
      stderr: "",
    });
    expect(await readFile(join(ctx.projectDir, "vendor", "dep"), "utf8")).toBe("from the fallback\n");
  });

  test("FF_CLEAN_UP_FAILED_CACHE_EXTRACT: a failed extraction removes the cache's paths, never outside the project", async () => {
    await using dir = await tempDir();
    const job = makeJob({
      cache: [{ key: "k", paths: ["vendor", "../outside", "/abs"] }],
      steps: [{ name: "script", script: ["true"] }],
      git_info: { repo_url: "/nowhere", sha: "a".repeat(40), ref: "main" },
      variables: [{ key: "FF_CLEAN_UP_FAILED_CACHE_EXTRACT", value: "true", public: true }],
    });
    const ctx = withHelper(contextFor(job, dir.path), dir.path);
    await mkdir(join(ctx.projectDir, "vendor"), { recursive: true });
    await writeFile(join(ctx.projectDir, "vendor", "half"), "half-extracted");
    await writeFile(join(ctx.projectDir, "..", "outside"), "not the cache's");
    const run = await runStage(job, "restore_cache", ctx);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toEndWith("WARNING: Failed to extract cache\nRemoving vendor\n");
    expect(existsSync(join(ctx.projectDir, "vendor"))).toBe(false);
    expect(await readFile(join(ctx.projectDir, "..", "outside"), "utf8")).toBe("not the cache's");
  });

  test("a job without a cache key uses gitlab-runner's default, <job name>/<ref>, unexpanded", async () => {
    await using dir = await tempDir();
    const job = makeJob({
      job_info: { name: "unit $HOME" },
      cache: [{ paths: ["x"] }],
      steps: [{ name: "script", script: ["true"] }],
      git_info: { repo_url: "/nowhere", sha: "a".repeat(40), ref: "main" },
    });
    const ctx = withHelper(contextFor(job, dir.path), dir.path);
    await mkdir(ctx.projectDir, { recursive: true });
    await writeFile(join(ctx.projectDir, "x"), "x");
    const run = await runStage(job, "archive_cache", ctx);
    expect(run.stdout).toStartWith("Creating cache unit $HOME/main...\n");
    expect(existsSync(join(dir.path, "cache", "unit $HOME", "main", "cache.zip"))).toBe(true);
  });

  test("no cache_dir: warn and succeed", async () => {
    await using dir = await tempDir();
    const job = cacheJob([{ key: "k", paths: ["x"] }]);
    const run = await runStage(job, "restore_cache", { ...contextFor(job, dir.path), cacheDir: undefined });
    expect(run).toEqual({
      exitCode: 0,
      stdout: "WARNING: no cache_dir is configured; the cache is not restored\n",
      stderr: "",
    });
  });
});

test("artifact stages without a coordinator or an artifacts directory say so and succeed", async () => {
  await using dir = await tempDir();
  const job = makeJob({ artifacts: [{ paths: ["out"] }] });
  const ctx = contextFor(job, dir.path);
  await mkdir(ctx.projectDir, { recursive: true });
  const run = await runStage(job, "upload_artifacts_on_success", ctx);
  expect(run).toEqual({
    exitCode: 0,
    stdout:
      "WARNING: Uploading artifacts is disabled: this job has no coordinator and no artifacts directory\n",
    stderr: "",
  });
});
