/**
 * Fault injection, job hooks (docs/hooks.md, docs/reliability.md): a hook that hangs past its
 * timeout, a hook that writes 10 MiB into GITHUB_ENV, a heredoc injection attempt in GITHUB_ENV.
 * (hooks.test.ts has a started hook that ignores SIGTERM past its timeout.)
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { drover, ensureBuilt, shellRunnerConfig } from "../../harness.ts";
import { customConfig, recorded, world } from "./fault-harness.ts";

ensureBuilt();

describe("a hook that hangs", () => {
  test("started hook past its timeout: the job fails, prepare and the stages are skipped, cleanup and the completed hook run", async () => {
    using w = world();
    const record = join(w.dir.path, "record");
    const hang = w.dir.file("hang.sh", "echo hook hanging\nsleep 300\n");
    const done = w.dir.file("done.sh", 'echo "completed hook ran: $DROVER_JOB_STATUS"\n');
    const config = customConfig(
      w,
      {},
      {},
      `[hooks]\n  job_started = [{ path = "${hang}", timeout = 1 }]\n  job_completed = "${done}"\n`,
    );
    const ran = join(w.dir.path, "ran");
    const result = await drover(["exec", "--config", config, w.job("job", { script: [`touch ${ran}`] })], {
      cwd: w.dir.path,
      env: w.env({ FAULT_RECORD: record }),
    });
    expect(result.stdout).toContain("hook hanging");
    expect(result.stdout).toMatch(/ERROR: Job failed: job_started hook failed: .*timed out/);
    expect(result.stdout).toContain("completed hook ran: failed");
    expect(result.exitCode).toBe(2);
    // config_exec ran before the hook; prepare_exec and run_exec never; cleanup_exec did.
    expect(recorded(record)).toEqual(["config", "cleanup"]);
    await w.expectClean();
  }, 20_000);

  test("completed hook past its timeout: a good job fails with the hook's message, after cleanup ran", async () => {
    using w = world();
    const record = join(w.dir.path, "record");
    const hang = w.dir.file("hang.sh", "(sleep 300 &)\nsleep 300\n");
    const config = customConfig(
      w,
      {},
      {},
      `[hooks]\n  job_completed = [{ path = "${hang}", timeout = 1 }]\n`,
    );
    const result = await drover(["exec", "--config", config, w.job("job", { script: ["echo job ran"] })], {
      cwd: w.dir.path,
      env: w.env({ FAULT_RECORD: record }),
    });
    expect(result.stdout).toContain("job ran");
    expect(result.stdout).toMatch(/ERROR: Job failed: job_completed hook failed: .*timed out/);
    expect(result.exitCode).toBe(2);
    expect(recorded(record).at(-1)).toBe("cleanup");
    await w.expectClean();
  }, 20_000);
});

describe("GITHUB_ENV", () => {
  test.each([
    [
      "one 10 MiB variable",
      `head -c 10485760 /dev/zero | tr '\\0' v | { printf 'BIG='; cat; echo; } >> "$GITHUB_ENV"`,
      "line 1: BIG is 10241 KiB long; an environment variable can hold at most 128 KiB",
    ],
    [
      "10 MiB of small variables",
      `awk 'BEGIN { for (i = 0; i < 100000; i++) printf "VAR_%d=%0100d\\n", i, i }' >> "$GITHUB_ENV"`,
      "at most 1024 KiB can be added to the environment of the job's processes",
    ],
  ])(
    "%s: the started hook fails with a clear message instead of every later process with E2BIG",
    async (_name, write, message) => {
      using w = world();
      const hook = w.dir.file("big-env.sh", `${write}\n`);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not a template
      const done = w.dir.file("done.sh", 'echo "completed hook ran, BIG has ${#BIG} bytes"\n');
      const config = shellRunnerConfig(
        w.dir,
        {},
        `[hooks]\n  job_started = "${hook}"\n  job_completed = "${done}"\n`,
      );
      const ran = join(w.dir.path, "ran");
      const result = await drover(["exec", "--config", config, w.job("job", { script: [`touch ${ran}`] })], {
        cwd: w.dir.path,
        env: w.env(),
      });
      expect(result.stdout).toContain(
        "ERROR: Unable to process file command 'env' successfully. $GITHUB_ENV line ",
      );
      expect(result.stdout).toContain(message);
      expect(result.stdout).toMatch(/ERROR: Job failed: job_started hook failed: .*\(runner_system_failure/);
      expect(result.stdout).toContain("completed hook ran, BIG has 0 bytes");
      expect(result.stdout).not.toContain("Argument list too long");
      expect(result.exitCode).toBe(2);
      await w.expectClean();
    },
    20_000,
  );

  const payload = "line one\nEOF\nNODE_OPTIONS=--require=/tmp/evil.js\nINJECTED=yes\nEOF\nlast line";

  test("heredoc injection with a random delimiter: the value arrives whole, nothing is injected", async () => {
    using w = world();
    const hook = w.dir.file(
      "inject.sh",
      [
        `payload='${payload}'`,
        'delim="ghadelimiter_$(cat /proc/sys/kernel/random/uuid)"',
        '{ echo "SAFE<<$delim"; printf "%s\\n" "$payload"; echo "$delim"; } >> "$GITHUB_ENV"',
        "",
      ].join("\n"),
    );
    const config = shellRunnerConfig(w.dir, {}, `[hooks]\n  job_started = "${hook}"\n`);
    const job = w.job("job", {
      script: [
        'printf "%s" "$SAFE" > safe.txt',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not a template
        'echo "INJECTED=${INJECTED:-unset} NODE_OPTIONS=${NODE_OPTIONS:-unset}"',
        "cp safe.txt $OUT_FILE",
      ],
      variables: [
        { key: "GIT_STRATEGY", value: "none" },
        { key: "OUT_FILE", value: join(w.dir.path, "safe.txt") },
      ],
    });
    const result = await drover(["exec", "--config", config, job], { cwd: w.dir.path, env: w.env() });
    expect(result.stdout).toContain("INJECTED=unset NODE_OPTIONS=unset");
    expect(result.exitCode).toBe(0);
    expect(await Bun.file(join(w.dir.path, "safe.txt")).text()).toBe(payload);
    await w.expectClean();
  });

  test("heredoc injection with a guessable delimiter: NODE_OPTIONS is refused, the stray delimiter fails the hook, the job never runs", async () => {
    using w = world();
    const hook = w.dir.file(
      "inject.sh",
      [
        `payload='${payload}'`,
        '{ echo "NAIVE<<EOF"; printf "%s\\n" "$payload"; echo EOF; } >> "$GITHUB_ENV"',
        "",
      ].join("\n"),
    );
    const config = shellRunnerConfig(w.dir, {}, `[hooks]\n  job_started = "${hook}"\n`);
    const ran = join(w.dir.path, "ran");
    const result = await drover(["exec", "--config", config, w.job("job", { script: [`touch ${ran}`] })], {
      cwd: w.dir.path,
      env: w.env(),
    });
    expect(result.stdout).toContain("Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command.");
    expect(result.stdout).toContain("Invalid format 'EOF'");
    expect(result.stdout).toContain("job_started hook failed");
    expect(await Bun.file(ran).exists()).toBe(false);
    expect(result.exitCode).toBe(2);
    await w.expectClean();
  });
});
