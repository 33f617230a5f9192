/**
 * Security checks (docs/plugins.md, docs/custom-executor.md, docs/reliability.md): private dirs are
 * owner-only and gone after the run; masked values stay out of every log (the job log, drover's own
 * log at trace level, plugin stderr forwarded into it, a driver's stderr); the environment of
 * plugins, drivers, hooks and jobs is scrubbed; job data is never interpolated by a shell on the
 * way to a process.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startChild } from "../../../kernel/process/child.ts";
import { drover, ensureBuilt, processesWithEnv, shellRunnerConfig, startDrover } from "../../harness.ts";
import {
  commandLine,
  customConfig,
  environOf,
  faultPluginConfig,
  type World,
  world,
} from "./fault-harness.ts";

ensureBuilt();

type Executor = "shell" | "custom";

function configFor(w: World, executor: Executor, top = ""): string {
  return executor === "shell" ? shellRunnerConfig(w.dir, {}, top) : customConfig(w, {}, {}, top);
}

/** A job that says "waiting" and waits for the file `go` in the test dir. */
function waitingJob(w: World) {
  const go = join(w.dir.path, "go");
  return {
    go,
    job: w.job("waiting", {
      script: ["echo waiting", `while [ ! -e '${go}' ]; do sleep 0.02; done`, "env > job-env.txt"],
    }),
  };
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

describe.each(["shell", "custom"] as const)("%s executor: private dirs", (executor) => {
  test("socket dirs and job dirs are 0700, the job JSON 0600, while the job runs; all gone after", async () => {
    using w = world();
    const { go, job } = waitingJob(w);
    await using run = startDrover(["exec", "--config", configFor(w, executor), job], {
      cwd: w.dir.path,
      env: w.env(),
    });
    await run.waitForStdout("\nwaiting\n");
    const dirs = readdirSync(w.tmp);
    const sockets = dirs.filter((d) => d.startsWith("drover-plugin-"));
    expect(sockets).toHaveLength(1);
    const jobDirs = dirs.filter((d) =>
      d.startsWith(executor === "shell" ? "drover-shell-" : "custom-executor-"),
    );
    expect(jobDirs).toHaveLength(1);
    for (const dir of [...sockets, ...jobDirs]) expect(mode(join(w.tmp, dir))).toBe(0o700);
    for (const socket of readdirSync(join(w.tmp, sockets[0]!))) expect(socket).toEndWith(".sock");
    if (executor === "custom") expect(mode(join(w.tmp, jobDirs[0]!, "response.json"))).toBe(0o600);
    for (const script of readdirSync(join(w.tmp, jobDirs[0]!), { recursive: true, encoding: "utf8" })) {
      if (script.endsWith(".sh")) expect(mode(join(w.tmp, jobDirs[0]!, script))).toBe(0o700);
    }
    writeFileSync(go, "");
    expect(await run.exited).toBe(0);
    await w.expectClean();
  });
});

describe("masked values", () => {
  const SECRET = "Sup3r-s3cret-V4lue";
  const variables = [
    { key: "GIT_STRATEGY", value: "none" },
    { key: "MY_SECRET", value: SECRET, masked: true },
  ];
  const script = [
    'echo "stdout: $MY_SECRET"',
    'echo "stderr: $MY_SECRET" >&2',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not a template
    'echo "split: ${MY_SECRET:0:5}""${MY_SECRET:5}"',
  ];

  test("a plugin printing them on stderr (plain, hclog, pino): not in drover's log at trace level, not in the job log", async () => {
    using w = world();
    const hook = w.dir.file("hook.sh", 'echo "hook sees $MY_SECRET"\necho "hook sees $MY_SECRET" >&2\n');
    const config = faultPluginConfig(w, `[hooks]\n  job_started = "${hook}"\n`);
    const result = await drover(
      ["--log-level", "trace", "exec", "--config", config, w.job("secret", { variables, script })],
      { cwd: w.dir.path, env: w.env({ FAULT_MODE: "stderr-secrets" }) },
    );
    expect(result.exitCode).toBe(0);
    // The plugin's lines did reach drover's log, masked.
    expect(result.stderr).toContain("plain: the secret is [MASKED]");
    expect(result.stderr).toContain("hclog [MASKED]");
    expect(result.stdout).toContain("stdout: [MASKED]");
    expect(result.stdout).toContain("split: [MASKED]");
    // Hooks never get a masked value at all (test/e2e/attacks/hook-environment.test.ts).
    expect(result.stdout).toContain("hook sees \n");
    expect(result.stdout).not.toContain(SECRET);
    expect(result.stderr).not.toContain(SECRET);
    await w.expectClean();
  });

  test("custom executor: drivers see them in clear; their stderr in the job log and in drover's log is masked", async () => {
    using w = world();
    const result = await drover(
      ["--log-level", "trace", "exec", "--config", customConfig(w), w.job("secret", { variables, script })],
      { cwd: w.dir.path, env: w.env({ FAULT_PRINT_VAR: "CUSTOM_ENV_MY_SECRET" }) },
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("config sees [MASKED]");
    expect(result.stderr).toContain("cleanup sees [MASKED]");
    expect(result.stdout).not.toContain(SECRET);
    expect(result.stderr).not.toContain(SECRET);
    await w.expectClean();
  });
});

describe("environment scrubbing", () => {
  const POISON = { BUN_OPTIONS: "--smol", NODE_OPTIONS: "--no-deprecation" };
  const FORBIDDEN = [
    "BUN_OPTIONS",
    "NODE_OPTIONS",
    "BUN_BE_BUN",
    "DROVER_PLUGIN_MAGIC_COOKIE",
    "PLUGIN_PROTOCOL_VERSIONS",
    "PLUGIN_UNIX_SOCKET_DIR",
  ];

  test.each(["shell", "custom"] as const)(
    "%s: BUN_OPTIONS and NODE_OPTIONS in drover's environment reach no plugin, driver, hook or job process",
    async (executor) => {
      using w = world();
      const hookEnv = join(w.dir.path, "hook-env.txt");
      const hook = w.dir.file("hook.sh", `env > '${hookEnv}'\n`);
      const { go, job } = waitingJob(w);
      await using run = startDrover(
        ["exec", "--config", configFor(w, executor, `[hooks]\n  job_started = "${hook}"\n`), job],
        { cwd: w.dir.path, env: w.env(POISON) },
      );
      await run.waitForStdout("\nwaiting\n");
      const others = processesWithEnv(w.mark.entry).filter((pid) => pid !== run.pid);
      const plugins = others.filter((pid) => commandLine(pid).includes("__plugin"));
      // The executor plugin and script-hooks; the job's processes (and, custom, run_exec).
      expect(plugins).toHaveLength(2);
      expect(others.length).toBeGreaterThan(2);
      for (const pid of others) {
        const env = environOf(pid);
        const isPlugin = plugins.includes(pid);
        for (const name of FORBIDDEN) {
          // Only a plugin gets the plugin-protocol variables, for its own launch.
          if (isPlugin && name.includes("PLUGIN")) continue;
          expect([commandLine(pid), name, env.has(name)]).toEqual([commandLine(pid), name, false]);
        }
      }
      writeFileSync(go, "");
      expect(await run.exited).toBe(0);
      const hookVars = readFileSync(hookEnv, "utf8");
      for (const name of FORBIDDEN) expect(hookVars).not.toContain(`${name}=`);
      await w.expectClean();
    },
  );

  test("startChild (the one place processes start) drops them, BUN_BE_BUN included, whatever the caller passes", async () => {
    // BUN_BE_BUN cannot be put in drover's own environment: it makes the binary act as `bun`.
    const child = startChild({
      name: "env",
      command: "env",
      env: { PATH: process.env.PATH, BUN_BE_BUN: "1", KEEP_ME: "yes", ...POISON },
      graceMs: 100,
    });
    let out = "";
    for await (const chunk of child.stdout) out += chunk.toString();
    expect((await child.exited).exitCode).toBe(0);
    expect(out).toContain("KEEP_ME=yes");
    for (const name of FORBIDDEN) expect(out).not.toContain(`${name}=`);
  });
});

describe("no shell interpolation of job data", () => {
  test.each(["shell", "custom"] as const)(
    "%s: a job name, variables, an image and git data full of shell syntax create no file, and arrive as written",
    async (executor) => {
      using w = world();
      const pwned = (n: number) => join(w.dir.path, `pwned-${n}`);
      const evil = [
        `$(touch ${pwned(1)})`,
        `; touch ${pwned(2)}`,
        `\`touch ${pwned(3)}\``,
        `'"; touch ${pwned(4)}; echo "'`,
        `x\ntouch ${pwned(5)}`,
        `| touch ${pwned(6)} &`,
      ];
      const hook = w.dir.file("hook.sh", 'echo "hook: $CI_JOB_NAME"\n');
      const config = configFor(
        w,
        executor,
        `[hooks]\n  job_started = "${hook}"\n  job_completed = "${hook}"\n`,
      );
      const first = w.job("first", {
        job_info: { name: `name $(touch ${pwned(7)}); touch ${pwned(8)}`, project_name: "proj" },
        image: { name: `alpine:$(touch ${pwned(9)})` },
        variables: [
          { key: "GIT_STRATEGY", value: "none" },
          ...evil.map((value, i) => ({ key: `EVIL_${i}`, value })),
          { key: "EVIL_FILE", value: `$(touch ${pwned(10)})`, file: true },
          { key: "EVIL_MASKED", value: `$(touch ${pwned(11)})x`, masked: true },
        ],
        script: [...evil.map((_, i) => `printf '<%s>\\n' "$EVIL_${i}"`), 'cat "$EVIL_FILE"; echo'],
      });
      const second = w.job("second", {
        id: 1002,
        git_info: {
          repo_url: `${w.dir.path}/no-repo$(touch ${pwned(12)})`,
          ref: `main;touch ${pwned(13)}`,
          sha: "0123456789012345678901234567890123456789",
          before_sha: "0000000000000000000000000000000000000000",
          ref_type: "branch",
          refspecs: [`+refs/heads/*:refs/remotes/origin/*$(touch ${pwned(14)})`],
          depth: 0,
        },
        variables: [{ key: "GIT_STRATEGY", value: "clone" }],
      });
      const result = await drover(["exec", "--config", config, first], { cwd: w.dir.path, env: w.env() });
      for (const [i, value] of evil.entries()) {
        if (!value.includes("\n")) expect(result.stdout).toContain(`<${value}>`);
        expect(existsSync(pwned(i + 1))).toBe(false);
      }
      expect(result.stdout).toContain(`$(touch ${pwned(10)})`);
      expect(result.stdout).toContain(`hook: name $(touch ${pwned(7)}); touch ${pwned(8)}`);
      expect(result.stdout).toContain("Job succeeded");
      expect(result.exitCode).toBe(0);
      // git data full of shell syntax is not even handed to git: the job is refused before it runs,
      // naming the field (test/e2e/attacks/git-arguments.test.ts has the option attacks).
      const refused = await drover(["exec", "--config", config, second], { cwd: w.dir.path, env: w.env() });
      expect(refused.stderr).toContain("git_info.repo_url: refusing repository URL");
      expect(refused.exitCode).toBe(64);
      for (let n = 1; n <= 14; n++) expect([n, existsSync(pwned(n))]).toEqual([n, false]);
      await w.expectClean();
    },
    20_000,
  );
});
