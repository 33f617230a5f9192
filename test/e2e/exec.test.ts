/**
 * `drover exec` end to end: the compiled binary, real bash, real plugin processes over real sockets.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  cleanEnv,
  DROVER,
  drover,
  ensureBuilt,
  expectNoLeftovers,
  FIXTURES,
  jobJson,
  marker,
  startDrover,
  tempDir,
  tsExecutable,
} from "../harness.ts";

ensureBuilt();

describe("drover exec -- 'cmd'", () => {
  test("the binary alone, no config, a bare PATH: prints hello, exits 0", async () => {
    using dir = tempDir();
    const bin = join(dir.path, "bin");
    mkdirSync(bin);
    copyFileSync(DROVER, join(bin, "drover"));
    const work = join(dir.path, "work");
    mkdirSync(work);
    const env = { ...cleanEnv(dir.path), PATH: "/usr/bin:/bin" };
    const result = await drover(["exec", "--", "echo hello"], {
      cwd: work,
      env,
      binary: join(bin, "drover"),
    });
    expect(result.stdout).toContain("\nhello\n");
    expect(result.stdout).toContain("Job succeeded");
    expect(result.exitCode).toBe(0);
    // It ran in the current directory and left nothing there.
    expect(readdirSync(work)).toEqual([]);
    const failing = await drover(["exec", "--", "exit 3"], { cwd: work, env, binary: join(bin, "drover") });
    expect(failing.stdout).toContain("exit code 3");
    expect(failing.exitCode).toBe(1);
  });

  test("a failing script exits 1 and the log says the script's exit code", async () => {
    using dir = tempDir();
    const result = await drover(["exec", "--", "echo before", "exit 3", "echo never"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain("before");
    expect(result.stdout).not.toContain("never\n");
    expect(result.stdout).toContain("exit code 3");
  });

  test("the job runs under two distinct drover processes (core and plugin), none is left after", async () => {
    using dir = tempDir();
    const mark = marker();
    const script = [
      'p=$$; while [ "$p" -gt 1 ]; do echo "ancestor $p $(readlink /proc/$p/exe)"; p=$(cut -d" " -f4 /proc/$p/stat); done',
    ];
    const result = await drover(["exec", "--", ...script], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });
    expect(result.exitCode).toBe(0);
    const droverPids = new Set(
      result.stdout
        .split("\n")
        .filter((line) => line.startsWith("ancestor ") && line.endsWith(` ${DROVER}`))
        .map((line) => line.split(" ")[1]),
    );
    expect(droverPids.size).toBe(2);
    await expectNoLeftovers(mark.entry);
  });
});

describe("drover inside a drover job", () => {
  test("an inner drover's exit sweep leaves the outer job alone", async () => {
    using dir = tempDir();
    const result = await drover(["exec", "--", `${DROVER} exec -- 'echo inner ran'`, "echo outer survived"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.stdout).toContain("inner ran");
    expect(result.stdout).toContain("outer survived");
    expect(result.exitCode).toBe(0);
  });
});

describe("drover exec JOB.json", () => {
  test("masked variables never reach the log, even split across writes", async () => {
    using dir = tempDir();
    const go = join(dir.path, "go");
    const job = dir.file(
      "job.json",
      jobJson({
        // Two writes, the second only once the test has seen the first pass through drover.
        script: [
          `printf 'value: s3cr3t'; while [ ! -e '${go}' ]; do sleep 0.01; done; printf -- '-t0ken'; echo`,
          'echo "again $SECRET_TOKEN"',
        ],
        variables: [
          { key: "GIT_STRATEGY", value: "none" },
          { key: "SECRET_TOKEN", value: "s3cr3t-t0ken", masked: true },
        ],
      }),
    );
    await using run = startDrover(["--log-level", "debug", "exec", job], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    // The masker holds back only what could begin the secret: the output line's "value: " is out
    // while "s3cr3t" waits, so the first write went through drover alone. ("\n": not the echoed
    // command, which has "value: " too.)
    await run.waitForStdout("\nvalue: ");
    expect(run.stdout()).not.toContain("\nvalue: s");
    dir.file("go", "");
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toContain("value: [MASKED]");
    expect(run.stdout()).toContain("again [MASKED]");
    expect(run.stdout()).not.toContain("s3cr3t-t0ken");
    expect(run.stderr()).not.toContain("s3cr3t-t0ken");
  });

  test("a malformed job file is refused before anything runs, naming the field", async () => {
    using dir = tempDir();
    const job = dir.file(
      "bad.json",
      JSON.stringify({ id: 1, steps: [{ name: "script", script: ["echo ok", 42] }] }),
    );
    const result = await drover(["exec", job], { cwd: dir.path, env: cleanEnv(dir.path) });
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toContain("steps[0].script[1]");
    expect(result.stdout).toBe("");
  });

  test("not JSON at all", async () => {
    using dir = tempDir();
    const job = dir.file("bad.json", "{ this is not json");
    const result = await drover(["exec", job], { cwd: dir.path, env: cleanEnv(dir.path) });
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toContain("bad.json");
  });

  test("after_script runs after a failure and sees CI_JOB_STATUS=failed", async () => {
    using dir = tempDir();
    const job = dir.file(
      "job.json",
      jobJson({
        steps: [
          { name: "script", script: ["exit 7"], timeout: 3600, when: "on_success" },
          { name: "after_script", script: ['echo "after: $CI_JOB_STATUS"'], timeout: 3600, when: "always" },
        ],
      }),
    );
    const result = await drover(["exec", job], { cwd: dir.path, env: cleanEnv(dir.path) });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain("after: failed");
    expect(result.stdout).toContain("exit code 7");
  });

  test("a real git repository is cloned and checked out at the job's sha", async () => {
    using dir = tempDir();
    const repo = join(dir.path, "repo");
    const git = (...args: string[]) => {
      const r = Bun.spawnSync(["git", ...args], {
        cwd: repo,
        env: {
          ...cleanEnv(dir.path),
          GIT_AUTHOR_NAME: "t",
          GIT_AUTHOR_EMAIL: "t@t",
          GIT_COMMITTER_NAME: "t",
          GIT_COMMITTER_EMAIL: "t@t",
        },
      });
      if (r.exitCode !== 0) throw new Error(r.stderr.toString());
      return r.stdout.toString().trim();
    };
    mkdirSync(repo);
    git("init", "-q", "-b", "main");
    dir.file("repo/file.txt", "first version\n");
    git("add", "file.txt");
    git("commit", "-qm", "first");
    const first = git("rev-parse", "HEAD");
    dir.file("repo/file.txt", "second version\n");
    git("commit", "-qam", "second");
    const job = dir.file(
      "job.json",
      jobJson({
        git_info: {
          repo_url: repo,
          ref: "main",
          sha: first,
          before_sha: "0000000000000000000000000000000000000000",
          ref_type: "branch",
          refspecs: [],
          depth: 0,
        },
        variables: [{ key: "GIT_STRATEGY", value: "clone" }],
        script: ["cat file.txt", "git rev-parse HEAD"],
      }),
    );
    const result = await drover(["exec", job], { cwd: dir.path, env: cleanEnv(dir.path) });
    expect(result.stdout).toContain("first version");
    expect(result.stdout).toContain(first);
    expect(result.exitCode).toBe(0);
  });
});

describe("timeouts and cancel", () => {
  test("Ctrl-C cancels gracefully: after_script still runs, exit 3, nothing left behind", async () => {
    using dir = tempDir();
    const mark = marker();
    const job = dir.file(
      "job.json",
      jobJson({
        steps: [
          { name: "script", script: ["echo started", "sleep 300"], timeout: 3600, when: "on_success" },
          {
            name: "after_script",
            script: ['echo "after_script ran: $CI_JOB_STATUS"'],
            timeout: 3600,
            when: "always",
          },
        ],
      }),
    );
    await using run = startDrover(["exec", job], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });
    await run.waitForStdout("started");
    run.kill("SIGINT");
    const exitCode = await run.exited;
    expect(run.stdout()).toContain("after_script ran: canceled");
    expect(run.stdout()).toContain("Job canceled");
    expect(exitCode).toBe(3);
    await expectNoLeftovers(mark.entry);
  });

  test("the job timeout stops the script; after_script runs; exit 3", async () => {
    using dir = tempDir();
    const mark = marker();
    const job = dir.file(
      "job.json",
      jobJson({
        runner_info: { timeout: 1 },
        steps: [
          { name: "script", script: ["sleep 300"], timeout: 1, when: "on_success" },
          { name: "after_script", script: ["echo after timeout"], timeout: 3600, when: "always" },
        ],
      }),
    );
    const result = await drover(["exec", job], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });
    expect(result.stdout).toContain("after timeout");
    expect(result.stdout).toContain("job_execution_timeout");
    expect(result.exitCode).toBe(3);
    await expectNoLeftovers(mark.entry);
  });

  test("RUNNER_SCRIPT_TIMEOUT cuts the script, a background child of the script goes with it", async () => {
    using dir = tempDir();
    const mark = marker();
    const job = dir.file(
      "job.json",
      jobJson({
        variables: [
          { key: "GIT_STRATEGY", value: "none" },
          { key: "RUNNER_SCRIPT_TIMEOUT", value: "1s" },
        ],
        script: ["(sleep 300 &)", "sleep 300"],
      }),
    );
    const result = await drover(["exec", job], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });
    expect(result.stdout).toContain("job_execution_timeout");
    expect(result.exitCode).toBe(3);
    await expectNoLeftovers(mark.entry);
  });
});

describe("external executor plugins", () => {
  test("a plugin crashing mid-stage fails that job as a system failure naming it; the next job works", async () => {
    using dir = tempDir();
    const mark = marker();
    const plugin = tsExecutable(dir, "crashy", join(FIXTURES, "plugins", "crashy-executor.ts"));
    const config = dir.file(
      "config.toml",
      `concurrent = 1\n[[runners]]\n  name = "crashy"\n  executor = "plugin"\n  builds_dir = "${dir.path}/builds"\n  [runners.plugin]\n    path = "${plugin}"\n`,
    );
    const crash = dir.file(
      "a.json",
      jobJson({ job_info: { name: "crasher" }, script: ["echo DROVER_TEST_CRASH"] }),
    );
    const fine = dir.file(
      "b.json",
      jobJson({ id: 1002, job_info: { name: "survivor" }, script: ["echo still works"] }),
    );
    const result = await drover(["exec", "--config", config, crash, fine], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });
    expect(result.stdout).toMatch(/\[crasher\] .*plugin "crashy" died \(signal SIGKILL\)/);
    expect(result.stdout).toContain("[crasher] ERROR: Job failed");
    expect(result.stdout).toContain("runner_system_failure");
    expect(result.stdout).toContain("[survivor] still works");
    expect(result.stdout).toContain("[survivor] Job succeeded");
    expect(result.exitCode).toBe(2);
    await expectNoLeftovers(mark.entry);
  });

  const launchFailures: Array<[string, string]> = [
    ["exits-early.sh", 'plugin "exits-early.sh" exited before the handshake (exit code 3)'],
    ["garbage.sh", "malformed handshake line"],
    ["wrong-core.sh", "core protocol version"],
    ["no-common-version.sh", "no common plugin protocol version"],
    ["hangs.sh", "did not complete the handshake within 500 ms"],
  ];
  test.each(launchFailures)(
    "a plugin that fails its launch (%s) fails the job with the reason",
    async (fixture, reason) => {
      using dir = tempDir();
      const mark = marker();
      const config = dir.file(
        "config.toml",
        `plugin_handshake_timeout = 0.5\n[[runners]]\n  name = "broken"\n  executor = "plugin"\n  [runners.plugin]\n    path = "${join(FIXTURES, "plugins", fixture)}"\n`,
      );
      const result = await drover(["exec", "--config", config, "--", "echo never"], {
        cwd: dir.path,
        env: cleanEnv(dir.path, { [mark.name]: mark.value }),
      });
      expect(result.stdout).toContain(reason);
      expect(result.stdout).not.toContain("never\n");
      expect(result.exitCode).toBe(2);
      // What the plugin printed before it died is in the job log, where the person reading it looks.
      if (fixture === "exits-early.sh") expect(result.stdout).toContain("cannot load libfoo.so.1");
      await expectNoLeftovers(mark.entry);
    },
  );
});

describe("drover config check", () => {
  test("reports problems with file:line and key path, exit 78", async () => {
    using dir = tempDir();
    const config = dir.file(
      "config.toml",
      'concurrent = 2\n[[runners]]\n  name = "x"\n  executor = "custom"\n  [runners.custom]\n    run_args = []\n',
    );
    const result = await drover(["config", "check", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.stdout).toContain(`${config}:5`);
    expect(result.stdout).toContain("custom executor is missing RunExec");
    expect(result.exitCode).toBe(78);
  });

  test("exec refuses to run with an invalid config", async () => {
    using dir = tempDir();
    const config = dir.file("config.toml", 'concurrent = "many"\n');
    const result = await drover(["exec", "--config", config, "--", "echo never"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.exitCode).toBe(78);
    expect(result.stderr).toContain(`${config}:1`);
    expect(result.stdout).toBe("");
  });

  test("init writes a starter config that checks clean", async () => {
    using dir = tempDir();
    const init = await drover(["init"], { cwd: dir.path, env: cleanEnv(dir.path) });
    expect(init.exitCode).toBe(0);
    const check = await drover(["config", "check", "--config", "config.toml"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(check.stdout).toContain("OK");
    expect(check.exitCode).toBe(0);
  });
});
