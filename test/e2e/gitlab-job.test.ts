// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell variable references in job scripts
/**
 * A job as GitLab Runner runs it, against the compiled binary (docs/jobs.md): the stages that still
 * run after a failure, CI_JOB_STATUS, script sections, CI_DEBUG_TRACE, masking by token prefix and
 * in URLs, the runner's own scripts, feature flags, real pipes for a stage's output, the shell a
 * runner may name. GitLab's exact strings where GitLab has them (shells/abstract.go, bash.go,
 * common/build.go).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  jobJson,
  shellRunnerConfig,
  startDrover,
  type TempDir,
  tempDir,
} from "../harness.ts";

ensureBuilt();

type Step = { name: string; script: string[]; when?: string; allow_failure?: boolean };

function step(name: string, script: string[], extra: Partial<Step> = {}): Step {
  return {
    name,
    script,
    when: name === "after_script" ? "always" : "on_success",
    allow_failure: false,
    ...extra,
  };
}

const baseVariables = [
  { key: "GIT_STRATEGY", value: "none", public: true },
  { key: "CI_PROJECT_PATH", value: "group/proj", public: true },
];

/** A job file in `dir` with these steps (and whatever else `extra` sets). */
function job(dir: TempDir, steps: Step[], extra: Record<string, unknown> = {}, name = "job.json"): string {
  const { variables = [], ...rest } = extra as { variables?: unknown[] };
  return dir.file(name, jobJson({ steps, variables: [...baseVariables, ...variables], ...rest }));
}

function variable(key: string, value: string, extra: Record<string, unknown> = {}) {
  return { key, value, public: true, masked: false, ...extra };
}

async function exec(dir: TempDir, jobFile: string, config = shellRunnerConfig(dir)) {
  return drover(["exec", "--config", config, jobFile], { cwd: dir.path, env: cleanEnv(dir.path) });
}

/** The section names of the stages that ran, in order (`section_start` lines are off in exec mode). */
function stagesRun(stdout: string): string[] {
  return [...stdout.matchAll(/^[✓✗] (\S+) /gmu)].map((m) => m[1]!);
}

describe("the stages after a failure (common/build.go executeScript)", () => {
  test("get_sources fails: no step and no after_script; the on-failure cache and the file variables' cleanup run", async () => {
    using dir = tempDir();
    const config = shellRunnerConfig(dir, {
      cache_dir: join(dir.path, "cache"),
      allow_local_repositories: true,
    });
    const file = job(dir, [step("script", ["echo never"]), step("after_script", ["echo after"])], {
      variables: [variable("GIT_STRATEGY", "fetch")],
      git_info: {
        repo_url: join(dir.path, "no-such-repository"),
        sha: "a".repeat(40),
        ref: "main",
        ref_type: "branch",
        refspecs: ["+refs/heads/main:refs/remotes/origin/main"],
      },
      cache: [{ key: "k", paths: ["out"], when: "on_failure", policy: "pull-push" }],
    });
    const result = await exec(dir, file, config);
    expect(result.exitCode).toBe(1);
    expect(stagesRun(result.stdout)).toEqual([
      "prepare_executor",
      "prepare_script",
      "get_sources",
      "archive_cache_on_failure",
      "cleanup_file_variables",
    ]);
    expect(result.stdout).not.toContain("never");
    expect(result.stdout).not.toContain("Running after script...");
  });

  test("a step fails: no later step, even one with `when: always`; after_script runs and sees CI_JOB_STATUS=failed", async () => {
    using dir = tempDir();
    const file = job(dir, [
      step("script", ["echo first", "exit 3"]),
      step("release", ["echo release ran"], { when: "always" }),
      step("after_script", ['echo "after: $CI_JOB_STATUS"']),
    ]);
    const result = await exec(dir, file);
    expect(result.exitCode).toBe(1);
    expect(stagesRun(result.stdout)).toEqual([
      "prepare_executor",
      "prepare_script",
      "get_sources",
      "build_script",
      "after_script",
      "cleanup_file_variables",
    ]);
    expect(result.stdout).not.toContain("release ran");
    expect(result.stdout).toContain(
      'Running after script...\n$ echo "after: $CI_JOB_STATUS"\nafter: failed\n',
    );
  });

  test("a successful job: after_script sees CI_JOB_STATUS=success, the steps saw running", async () => {
    using dir = tempDir();
    const file = job(dir, [
      step("script", ['echo "step: $CI_JOB_STATUS"']),
      step("after_script", ['echo "after: $CI_JOB_STATUS"']),
    ]);
    const result = await exec(dir, file);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("\nstep: running\n");
    expect(result.stdout).toContain("\nafter: success\n");
  });

  test("the job times out: after_script sees CI_JOB_STATUS=timedout", async () => {
    using dir = tempDir();
    const file = job(
      dir,
      [step("script", ["sleep 30"]), step("after_script", ['echo "after: $CI_JOB_STATUS"'])],
      {
        runner_info: { timeout: 1 },
      },
    );
    const result = await exec(dir, file);
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toContain("\nafter: timedout\n");
  });

  test("RUNNER_SCRIPT_TIMEOUT cuts the steps: after_script sees timedout", async () => {
    using dir = tempDir();
    const file = job(
      dir,
      [step("script", ["sleep 30"]), step("after_script", ['echo "after: $CI_JOB_STATUS"'])],
      {
        variables: [variable("RUNNER_SCRIPT_TIMEOUT", "1s")],
      },
    );
    const result = await exec(dir, file);
    expect(result.exitCode).toBe(3); // job_execution_timeout, as for the job's own timeout
    expect(result.stdout).toContain("\nafter: timedout\n");
  });

  test("canceled during a step (SIGTERM): after_script runs and sees canceled", async () => {
    using dir = tempDir();
    const file = job(dir, [
      step("script", ["echo started", "sleep 30"]),
      step("after_script", ['echo "after: $CI_JOB_STATUS"']),
    ]);
    await using run = startDrover(["exec", "--config", shellRunnerConfig(dir), file], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    await run.waitForStdout("\nstarted\n");
    run.kill("SIGTERM");
    expect(await run.exited).toBe(3);
    expect(run.stdout()).toContain("\nafter: canceled\n");
  });
});

describe("script sections and debug trace (shells/abstract.go writeCommands, bash.go)", () => {
  const multiLine = "echo one\necho two";

  test("FF_SCRIPT_SECTIONS with the job's trace_sections: a multi-line command is a collapsed section", async () => {
    using dir = tempDir();
    const file = job(dir, [step("script", ["echo single", multiLine])], {
      variables: [variable("FF_SCRIPT_SECTIONS", "true")],
      features: { trace_sections: true },
    });
    const result = await exec(dir, file);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(
      /\$ echo single\nsingle\nsection_start:\d+:section_script_step_1\[hide_duration=true,collapsed=true\]\r\x1b\[0K\$ echo one\necho two\nsection_end:\d+:section_script_step_1\r\x1b\[0K\none\ntwo\n/,
    );
  });

  test("without either, the first line and GitLab's note", async () => {
    using dir = tempDir();
    for (const extra of [
      { variables: [variable("FF_SCRIPT_SECTIONS", "true")] },
      { features: { trace_sections: true } },
    ]) {
      const file = job(dir, [step("script", [multiLine])], extra);
      const result = await exec(dir, file);
      expect(result.stdout).toContain("$ echo one # collapsed multi-line command\none\ntwo\n");
      expect(result.stdout).not.toContain("section_start:");
    }
  });

  test("[runners.feature_flags] wins over the job's variable", async () => {
    using dir = tempDir();
    const config = dir.file(
      "config.toml",
      '[[runners]]\n  name = "shell"\n  executor = "shell"\n  [runners.feature_flags]\n    FF_SCRIPT_SECTIONS = false\n',
    );
    const file = job(dir, [step("script", [multiLine, 'echo "flag=$FF_SCRIPT_SECTIONS"'])], {
      variables: [variable("FF_SCRIPT_SECTIONS", "true")],
      features: { trace_sections: true },
    });
    const result = await exec(dir, file, config);
    expect(result.stdout).not.toContain("section_start:");
    expect(result.stdout).toContain("\nflag=false\n");
  });

  test("CI_DEBUG_TRACE=true: every command is traced", async () => {
    using dir = tempDir();
    const file = job(dir, [step("script", ["echo traced"])], {
      variables: [variable("CI_DEBUG_TRACE", "true")],
    });
    const result = await exec(dir, file);
    expect(result.exitCode).toBe(0);
    // stdout and stderr share one pipe (as under GitLab Runner): the trace line precedes the output.
    expect(result.stdout).toMatch(/\n\++ echo traced\ntraced\n/);
    expect(result.stdout).not.toMatch(/\+ exit 0/);
  });
});

describe("masking by shape (common/buildlogger: tokensanitizer, urlsanitizer)", () => {
  test("GitLab's token prefixes, the job's own, and credentials in URLs", async () => {
    using dir = tempDir();
    const file = job(
      dir,
      [
        step("script", [
          'echo "TOKEN_REVEALS=$TOKEN_REVEALS"',
          "echo runner glrt-abc123 and mine-secret77",
          'echo "https://s3.example.com/b/o?X-Amz-Credential=AKIA1234&X-Amz-Signature=f00d&x=1"',
          'echo "https://gitlab.example.com/api/v4/projects?private_token=hunter2"',
        ]),
      ],
      {
        variables: [variable("TOKEN_REVEALS", "glpat-abcdef")],
        features: { token_mask_prefixes: ["mine-"] },
      },
    );
    const result = await exec(dir, file);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("\nTOKEN_REVEALS=glpat-[MASKED]\n");
    expect(result.stdout).toContain("\nrunner glrt-[MASKED] and mine-[MASKED]\n");
    expect(result.stdout).toContain("?X-Amz-Credential=[MASKED]&X-Amz-Signature=[MASKED]&x=1\n");
    expect(result.stdout).toContain("?private_token=[MASKED]\n");
    for (const secret of ["abcdef", "abc123", "secret77", "AKIA1234", "f00d", "hunter2"]) {
      expect(result.stdout).not.toContain(secret);
    }
  });

  test("FF_MASK_ALL_DEFAULT_TOKENS=false: glpat- only", async () => {
    using dir = tempDir();
    const file = job(dir, [step("script", ["echo glpat-one glrt-two"])], {
      variables: [variable("FF_MASK_ALL_DEFAULT_TOKENS", "false")],
    });
    const result = await exec(dir, file);
    expect(result.stdout).toContain("\nglpat-[MASKED] glrt-two\n");
  });
});

describe("the runner's scripts (pre_get_sources_script, post_get_sources_script, pre_build_script, post_build_script)", () => {
  test("run where GitLab runs them, the job's `hooks:` after the runner's pre_get_sources_script", async () => {
    using dir = tempDir();
    const upstream = join(dir.path, "upstream");
    const git = (...args: string[]) => {
      const r = Bun.spawnSync(["git", ...args], { cwd: upstream, env: gitEnv(dir) });
      if (r.exitCode !== 0) throw new Error(r.stderr.toString());
      return r.stdout.toString().trim();
    };
    Bun.spawnSync(["mkdir", "-p", upstream]);
    git("init", "-q", "-b", "main");
    Bun.write(join(upstream, "a.txt"), "x");
    git("add", "a.txt");
    git("commit", "-q", "-m", "c1");
    const sha = git("rev-parse", "HEAD");
    const config = dir.file(
      "config.toml",
      [
        "[[runners]]",
        '  name = "shell"',
        '  executor = "shell"',
        "  allow_local_repositories = true",
        `  pre_get_sources_script = "echo runner-pre-sources; test ! -d .git"`,
        `  post_get_sources_script = "echo runner-post-sources; test -f a.txt"`,
        `  pre_build_script = """\necho runner-pre-build\necho second line"""`,
        `  post_build_script = "echo runner-post-build"`,
        "",
      ].join("\n"),
    );
    const file = job(dir, [step("script", ["echo job-step"]), step("release", ["echo release-step"])], {
      variables: [variable("GIT_STRATEGY", "fetch")],
      git_info: { repo_url: upstream, sha, ref: "main", ref_type: "branch" },
      hooks: [
        { name: "pre_get_sources_script", script: ["echo job-pre-sources"] },
        { name: "post_get_sources_script", script: ["echo job-post-sources"] },
      ],
    });
    const result = await drover(["exec", "--config", config, file], { cwd: dir.path, env: gitEnv(dir) });
    expect(result.exitCode).toBe(0);
    const order = result.stdout
      .split("\n")
      .filter((line) => /^(runner|job|release)-|^Fetching changes|^Checking out/.test(line));
    expect(order).toEqual([
      "runner-pre-sources",
      "job-pre-sources",
      "Fetching changes...",
      `Checking out ${sha.slice(0, 8)} as detached HEAD (ref is main)...`,
      "job-post-sources",
      "runner-post-sources",
      "runner-pre-build",
      "job-step",
      "runner-post-build",
      "runner-pre-build",
      "release-step",
      "runner-post-build",
    ]);
    expect(result.stdout).toContain("$ echo runner-pre-build # collapsed multi-line command\n");
  });

  test("GIT_STRATEGY=none: no get_sources script runs (GitLab's guard)", async () => {
    using dir = tempDir();
    const config = shellRunnerConfig(dir, { pre_get_sources_script: "echo should-not-run" });
    const result = await exec(dir, job(dir, [step("script", ["true"])]), config);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).not.toContain("should-not-run");
  });

  test("a failing pre_build_script fails the step", async () => {
    using dir = tempDir();
    const config = shellRunnerConfig(dir, { pre_build_script: "exit 7" });
    const result = await exec(dir, job(dir, [step("script", ["echo never"])]), config);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).not.toContain("\nnever\n");
    expect(result.stdout).toContain("exit status 7");
  });
});

describe("what a job sees", () => {
  test("GitLab's runner variables and every feature flag", async () => {
    using dir = tempDir();
    const config = shellRunnerConfig(dir, { id: 4242 });
    const file = job(dir, [
      step("script", [
        'echo "version=$CI_RUNNER_VERSION revision=$CI_RUNNER_REVISION id=$CI_RUNNER_ID"',
        'echo "shared=$CI_SHARED_ENVIRONMENT disposable=${CI_DISPOSABLE_ENVIRONMENT:-unset}"',
        'echo "flags=$(env | grep -c ^FF_) $FF_MASK_ALL_DEFAULT_TOKENS $FF_ENABLE_JOB_CLEANUP"',
      ]),
    ]);
    const result = await exec(dir, file, config);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/\nversion=\d+\.\d+\.\d+\S* revision=[0-9a-f]{8} id=4242\n/);
    expect(result.stdout).toContain("\nshared=true disposable=unset\n");
    expect(result.stdout).toMatch(/\nflags=(4\d|5\d) true false\n/);
  });

  test("a stage's stdout and stderr are pipes: `echo x > /dev/stderr` works in a set -e script", async () => {
    using dir = tempDir();
    const file = job(dir, [
      step("script", [
        "echo to-stderr > /dev/stderr",
        "echo to-stdout > /dev/stdout",
        'echo "fd1=$(stat -L -c %F /proc/self/fd/1) fd2=$(stat -L -c %F /proc/self/fd/2)"',
      ]),
    ]);
    const result = await exec(dir, file);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("\nto-stderr\n");
    expect(result.stdout).toContain("\nto-stdout\n");
    expect(result.stdout).toContain("\nfd1=fifo fd2=fifo\n");
  });

  test('shell = "sh" is refused when the config is checked, naming the key', async () => {
    using dir = tempDir();
    const config = shellRunnerConfig(dir, { shell: "sh" });
    const result = await drover(["config", "check", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout + result.stderr).toContain(
      'runners[0] ("shell").shell: "sh" is not supported: drover\'s job scripts are bash scripts',
    );
  });

  test("a job with `secrets:` is refused before anything runs, naming them (drover does not fetch them)", async () => {
    using dir = tempDir();
    const file = job(dir, [step("script", [`touch ${join(dir.path, "ran")}`])], {
      secrets: {
        DATABASE_PASSWORD: {
          vault: { engine: { name: "kv-v2", path: "kv" }, path: "db", field: "pw" },
          file: false,
        },
        TOKEN: { gcp_secret_manager: { name: "t", version: "1" } },
      },
    });
    const result = await exec(dir, file);
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout + result.stderr).toContain(
      "secrets: drover does not fetch external secrets, and the job needs DATABASE_PASSWORD (vault), TOKEN (gcp_secret_manager): it is not run without them",
    );
    expect(await Bun.file(join(dir.path, "ran")).exists()).toBe(false);
  });

  test("GitLab's executor line and the feature flags header", async () => {
    using dir = tempDir();
    const file = job(dir, [step("script", ["true"])], { variables: [variable("FF_SCRIPT_SECTIONS", "1")] });
    const result = await exec(dir, file);
    expect(result.stdout).toContain("\n  feature flags: FF_SCRIPT_SECTIONS:true\n");
    expect(result.stdout).toContain("\nUsing Shell (bash) executor...\n");
  });
});

describe("FF_ENABLE_JOB_CLEANUP", () => {
  test("fetch: the checkout is reset and untracked files removed after the job", async () => {
    using dir = tempDir();
    const upstream = join(dir.path, "upstream");
    Bun.spawnSync(["mkdir", "-p", upstream]);
    const git = (cwd: string, ...args: string[]) => {
      const r = Bun.spawnSync(["git", ...args], { cwd, env: gitEnv(dir) });
      if (r.exitCode !== 0) throw new Error(r.stderr.toString());
      return r.stdout.toString().trim();
    };
    git(upstream, "init", "-q", "-b", "main");
    await Bun.write(join(upstream, "tracked.txt"), "original");
    git(upstream, "add", "tracked.txt");
    git(upstream, "commit", "-q", "-m", "c1");
    const sha = git(upstream, "rev-parse", "HEAD");
    const config = shellRunnerConfig(dir, {
      builds_dir: join(dir.path, "builds"),
      allow_local_repositories: true,
    });
    const file = job(
      dir,
      [
        step("script", [
          "echo changed > tracked.txt",
          "echo new > untracked.txt",
          'pwd > "$HOME/project-dir"',
        ]),
      ],
      {
        variables: [variable("GIT_STRATEGY", "fetch"), variable("FF_ENABLE_JOB_CLEANUP", "true")],
        git_info: { repo_url: upstream, sha, ref: "main", ref_type: "branch" },
      },
    );
    const result = await drover(["exec", "--config", config, file], { cwd: dir.path, env: gitEnv(dir) });
    expect(result.exitCode).toBe(0);
    const projectDir = (await Bun.file(join(dir.path, "project-dir")).text()).trim();
    expect(await Bun.file(join(projectDir, "tracked.txt")).text()).toBe("original");
    expect(await Bun.file(join(projectDir, "untracked.txt")).exists()).toBe(false);
  });
});

function gitEnv(dir: TempDir): Record<string, string> {
  return cleanEnv(dir.path, {
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_AUTHOR_NAME: "T",
    GIT_AUTHOR_EMAIL: "t@example.com",
    GIT_COMMITTER_NAME: "T",
    GIT_COMMITTER_EMAIL: "t@example.com",
  });
}
