/**
 * Job hooks written the way GitHub users write them (docs/hooks.md), against the compiled binary:
 * `cd "$GITHUB_WORKSPACE"`, an agent left running with `nohup ... &`, RUNNER_TEMP shared by the
 * started and the completed hook, a `.js` hook, the runner's `.env`, ACTIONS_ALLOW_UNSECURE_COMMANDS,
 * and the completed hook's PATH.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  expectNoLeftovers,
  jobJson,
  marker,
  processesWithEnv,
  startDrover,
  type TempDir,
  tempDir,
} from "../harness.ts";

ensureBuilt();

/** A shell runner with its builds in `dir`, hooks from `hooks` (a `[hooks]` table's lines). */
function setup(dir: TempDir, hooks: string[]) {
  const mark = marker();
  const tmp = join(dir.path, "tmp");
  mkdirSync(tmp);
  const config = dir.file(
    "config.toml",
    [
      "[[runners]]",
      '  name = "local"',
      '  executor = "shell"',
      `  builds_dir = ${JSON.stringify(join(dir.path, "builds"))}`,
      "[hooks]",
      ...hooks.map((line) => `  ${line}`),
      "",
    ].join("\n"),
  );
  // A job from a project, with no repository to fetch.
  const job = (script: string[]) => dir.file("job.json", jobJson({ script }));
  const run = (jobFile: string, extra: Record<string, string> = {}) =>
    drover(["exec", "--config", config, jobFile], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value, TMPDIR: tmp, ...extra }),
    });
  /** Nothing drover or a hook started runs, and drover left no temp dir (RUNNER_TEMP included). */
  const expectClean = async () => {
    await expectNoLeftovers(mark.entry);
    expect(readdirSync(tmp)).toEqual([]);
  };
  return { config, job, run, expectClean, mark };
}

describe("hooks as GitHub users write them", () => {
  test('`cd "$GITHUB_WORKSPACE"` in a started hook of a job with no repository: the directory is there, and the job runs in it', async () => {
    using dir = tempDir();
    const start = dir.file(
      "start.sh",
      [
        "#!/bin/bash",
        "set -euo pipefail",
        'cd "$GITHUB_WORKSPACE"',
        'echo "prepared by the hook" > hook-was-here.txt',
        'echo "hook in $PWD"',
      ].join("\n"),
    );
    const w = setup(dir, [`job_started = ${JSON.stringify(start)}`]);
    const result = await w.run(w.job(['echo "job in $PWD"', "cat hook-was-here.txt"]));
    expect(result.exitCode).toBe(0);
    const hookDir = /hook in (\S+)/.exec(result.stdout)?.[1];
    expect(hookDir).toStartWith(join(dir.path, "builds"));
    expect(result.stdout).toContain(`job in ${hookDir}\n`);
    expect(result.stdout).toContain("prepared by the hook\n");
    await w.expectClean();
  });

  test("a started hook's `nohup agent &` runs through the job's stages and is gone after the job", async () => {
    using dir = tempDir();
    const start = dir.file(
      "start.sh",
      [
        'nohup sleep 300 > "$RUNNER_TEMP/agent.log" 2>&1 &',
        'echo "$!" > "$GITHUB_WORKSPACE/agent.pid"',
        'echo "agent started"',
      ].join("\n"),
    );
    const done = dir.file(
      "done.sh",
      'kill -0 "$(cat "$GITHUB_WORKSPACE/agent.pid")" && echo "agent still up for the completed hook"\n',
    );
    const w = setup(dir, [
      `job_started = ${JSON.stringify(start)}`,
      `job_completed = ${JSON.stringify(done)}`,
    ]);
    const started = Date.now();
    const result = await w.run(w.job(['kill -0 "$(cat agent.pid)" && echo "agent alive during the job"']));
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("agent started\n");
    expect(result.stdout).toContain("agent alive during the job\n");
    expect(result.stdout).toContain("agent still up for the completed hook\n");
    // Its output went to a file: the step did not wait for it.
    expect(Date.now() - started).toBeLessThan(5_000);
    // The job's end stopped it.
    expect(result.stdout).toContain("WARNING: killed 1 process(es) the job left running");
    expect(processesWithEnv(w.mark.entry)).toEqual([]);
    await w.expectClean();
  });

  test("`nohup agent &` without a redirect: the step waits for its output 5 s at most, as GitHub's does", async () => {
    using dir = tempDir();
    const start = dir.file("start.sh", 'nohup sleep 300 &\necho "agent started"\n');
    const w = setup(dir, [`job_started = ${JSON.stringify(start)}`]);
    const started = Date.now();
    const result = await w.run(w.job(['echo "job ran"']));
    const took = Date.now() - started;
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("agent started\n");
    expect(result.stdout).toContain("job ran\n");
    expect(took).toBeGreaterThanOrEqual(5_000);
    expect(took).toBeLessThan(15_000);
    await w.expectClean();
  }, 30_000);

  test("RUNNER_TEMP is the same in the started and the completed hook, and gone after the job", async () => {
    using dir = tempDir();
    const start = dir.file(
      "start.sh",
      'echo "started temp: $RUNNER_TEMP"\necho "cache key 1234" > "$RUNNER_TEMP/state.txt"\n',
    );
    const done = dir.file(
      "done.sh",
      'echo "completed temp: $RUNNER_TEMP"\necho "completed found: $(cat "$RUNNER_TEMP/state.txt")"\n',
    );
    const w = setup(dir, [
      `job_started = ${JSON.stringify(start)}`,
      `job_completed = ${JSON.stringify(done)}`,
    ]);
    const result = await w.run(w.job(["echo job"]));
    expect(result.exitCode).toBe(0);
    const temp = /started temp: (\S+)/.exec(result.stdout)?.[1] as string;
    expect(temp).toStartWith(join(dir.path, "tmp"));
    expect(result.stdout).toContain(`completed temp: ${temp}\n`);
    expect(result.stdout).toContain("completed found: cache key 1234\n");
    expect(existsSync(temp)).toBe(false);
    await w.expectClean();
  });

  test("a .js hook: process.env in, GITHUB_ENV out, run by drover's own runtime", async () => {
    using dir = tempDir();
    const start = dir.file(
      "start.js",
      [
        'const fs = require("node:fs");',
        "const { CI_JOB_ID, GITHUB_REPOSITORY, GITHUB_ENV } = process.env;",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a hook script's own code (JavaScript or shell), not a template
        "console.log(`js hook for job ${CI_JOB_ID} of ${GITHUB_REPOSITORY}`);",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a hook script's own code (JavaScript or shell), not a template
        "fs.appendFileSync(GITHUB_ENV, `CACHE_KEY=${GITHUB_REPOSITORY.replace('/', '-')}-${CI_JOB_ID}\\n`);",
      ].join("\n"),
    );
    const w = setup(dir, [`job_started = ${JSON.stringify(start)}`]);
    const result = await w.run(w.job(['echo "key: $CACHE_KEY"']));
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`shell: ${ensureBuilt()} {0}`);
    expect(result.stdout).toContain("js hook for job 1001 of group/proj\n");
    expect(result.stdout).toContain("key: group-proj-1001\n");
    await w.expectClean();
  });

  test("the .env beside config.toml: a hook configured there runs, and sees its variables", async () => {
    using dir = tempDir();
    const start = dir.file("start.sh", 'echo "greeting from .env: $HOOK_GREETING, proxy: $https_proxy"\n');
    const w = setup(dir, []);
    dir.file(
      ".env",
      `# written by the administrator\nACTIONS_RUNNER_HOOK_JOB_STARTED=${start}\nHOOK_GREETING=hello\nhttps_proxy=http://proxy.internal:3128\n`,
      0o600,
    );
    const result = await w.run(w.job(['echo "job sees: $HOOK_GREETING"']));
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("Set up runner");
    expect(result.stdout).toContain("greeting from .env: hello, proxy: http://proxy.internal:3128\n");
    // The administrator's environment: the job's processes have it too, as on GitHub.
    expect(result.stdout).toContain("job sees: hello\n");
    await w.expectClean();
  });

  test("a .env another user could change stops drover before any job (exit 78)", async () => {
    using dir = tempDir();
    const w = setup(dir, []);
    const dotenv = dir.file(".env", "A=1\n", 0o666);
    const result = await w.run(w.job(["echo never"]));
    expect(result.exitCode).toBe(78);
    expect(result.stderr).toContain(`${dotenv} is world-writable`);
    expect(result.stdout).not.toContain("never");
  });

  test("ACTIONS_ALLOW_UNSECURE_COMMANDS=true enables `::set-env` and `::add-path`", async () => {
    using dir = tempDir();
    const bin = join(dir.path, "legacy-bin");
    const start = dir.file(
      "start.sh",
      [
        `mkdir -p ${bin} && printf '#!/bin/sh\\necho legacy tool ran\\n' > ${bin}/legacy-tool && chmod +x ${bin}/legacy-tool`,
        'echo "::set-env name=LEGACY_VAR::set with set-env"',
        `echo "::add-path::${bin}"`,
      ].join("\n"),
    );
    const w = setup(dir, [`job_started = ${JSON.stringify(start)}`]);
    const script = ['echo "job: $LEGACY_VAR"', "legacy-tool"];
    const allowed = await w.run(w.job(script), { ACTIONS_ALLOW_UNSECURE_COMMANDS: "true" });
    expect(allowed.exitCode).toBe(0);
    expect(allowed.stdout).toContain("job: set with set-env\n");
    expect(allowed.stdout).toContain("legacy tool ran\n");

    const refused = await w.run(w.job(script));
    expect(refused.stdout).toContain("The `set-env` command is disabled.");
    expect(refused.stdout).toContain("job_started hook failed");
    expect(refused.exitCode).toBe(2);
    await w.expectClean();
  });

  test("the completed hook's PATH has the directories the started hook added to GITHUB_PATH", async () => {
    using dir = tempDir();
    const bin = join(dir.path, "tools-bin");
    const start = dir.file(
      "start.sh",
      [
        `mkdir -p ${bin} && printf '#!/bin/sh\\necho "report tool: $1"\\n' > ${bin}/report-tool && chmod +x ${bin}/report-tool`,
        `echo ${bin} >> "$GITHUB_PATH"`,
      ].join("\n"),
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a hook script's own code (JavaScript or shell), not a template
    const done = dir.file("done.sh", 'echo "first on PATH: ${PATH%%:*}"\nreport-tool "$CI_JOB_STATUS"\n');
    const w = setup(dir, [
      `job_started = ${JSON.stringify(start)}`,
      `job_completed = ${JSON.stringify(done)}`,
    ]);
    const result = await w.run(w.job(["report-tool from-the-job"]));
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("report tool: from-the-job\n");
    expect(result.stdout).toContain(`first on PATH: ${bin}\n`);
    expect(result.stdout).toContain("report tool: success\n");
    await w.expectClean();
  });
});

describe("stopping drover during the job_completed hooks", () => {
  test("a hanging completed hook stops on drover's first SIGTERM: drover exits, nothing is left", async () => {
    using dir = tempDir();
    const hang = dir.file(
      "completed.sh",
      ["#!/bin/bash", 'echo "completed hook: waiting"', "sleep 600", 'echo "never"'].join("\n"),
      0o755,
    );
    const w = setup(dir, [`job_completed = ${JSON.stringify(hang)}`]);
    const tmp = join(dir.path, "tmp");
    await using run = startDrover(["exec", "--config", w.config, w.job(["echo job done"])], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [w.mark.name]: w.mark.value, TMPDIR: tmp }),
    });
    await run.waitForStdout("completed hook: waiting");
    const sent = Date.now();
    run.kill("SIGTERM");
    await run.exited;
    expect(Date.now() - sent).toBeLessThan(15_000);
    expect(run.stdout()).toContain("WARNING: the job_completed hooks were stopped: drover was asked to stop");
    expect(run.stdout()).not.toContain("never");
    await w.expectClean();
  });
});
