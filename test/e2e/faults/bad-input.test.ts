/**
 * Bad input (README.md "Usage", docs/configuration.md, docs/jobs.md, docs/reliability.md): a
 * config.toml or a job file that is wrong in each of the usual ways is refused with a message naming
 * the file, the line or the field, and exit 78 (config) or 64 (job), before anything runs. A job
 * with 10 MiB of variables runs, or fails clearly. (exec.test.ts and config-check.test.ts have the
 * first cases of each; these add the rest and check that nothing ran.)
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { drover, ensureBuilt, shellRunnerConfig } from "../../harness.ts";
import { customConfig, DRIVER, world } from "./fault-harness.ts";

ensureBuilt();

describe("config.toml", () => {
  const cases: Array<[string, string, Array<[number, string]>]> = [
    ["a TOML syntax error", '[[runners]]\n  name = "x"\n  executor = "shell\n', [[3, "invalid TOML"]]],
    [
      "wrong types",
      '[[runners]]\n  name = 5\n  executor = "shell"\n  limit = "two"\n',
      [
        [2, "runners[0].name: expected a string, got integer 5"],
        [4, 'runners[0].limit: expected a non-negative integer, got string "two"'],
      ],
    ],
    [
      "an unknown executor",
      '[[runners]]\n  name = "x"\n  executor = "docker+machine"\n',
      [[3, 'unknown executor "docker+machine"']],
    ],
    [
      "a custom runner without run_exec",
      '[[runners]]\n  name = "x"\n  executor = "custom"\n  [runners.custom]\n    config_exec = "/bin/true"\n',
      [[4, "custom executor is missing RunExec"]],
    ],
    [
      "duplicate runner names",
      '[[runners]]\n  name = "x"\n  executor = "shell"\n[[runners]]\n  name = "x"\n  executor = "shell"\n',
      [[5, 'duplicate runner name "x": also used by runners[0] on line 1']],
    ],
    [
      "negative timeouts and counts",
      `concurrent = -1\nplugin_handshake_timeout = -5\n[hooks]\n  job_started = [{ path = "${DRIVER}", timeout = -1 }]\n[[runners]]\n  name = "x"\n  executor = "shell"\n  limit = -2\n`,
      [
        [1, "concurrent: expected a positive integer, got integer -1"],
        [2, "plugin_handshake_timeout: expected a positive number of seconds, got integer -5"],
        [4, "hooks.job_started[0].timeout: expected a positive number of seconds, got integer -1"],
        [8, "limit: expected a non-negative integer, got integer -2"],
      ],
    ],
  ];
  test.each(cases)(
    "%s: exit 78, every problem with file:line, nothing runs",
    async (_name, text, problems) => {
      using w = world();
      const config = w.dir.file("config.toml", text);
      const ran = join(w.dir.path, "ran");
      const result = await drover(["exec", "--config", config, "--", `touch ${ran}`], {
        cwd: w.dir.path,
        env: w.env(),
      });
      expect(result.exitCode).toBe(78);
      expect(result.stderr).toContain(`invalid configuration in ${config}: ${problems.length} error`);
      for (const [line, message] of problems) {
        expect(result.stderr).toMatch(new RegExp(`${config}:${line}: .*${escapeRegExp(message)}`));
      }
      expect(result.stdout).toBe("");
      expect(existsSync(ran)).toBe(false);
      await w.expectClean();
    },
  );

  test("GitLab's '<= 0 means the default' keys (custom timeouts, output_limit) are accepted as GitLab accepts them", async () => {
    using w = world();
    const config = customConfig(
      w,
      { graceful_kill_timeout: -1, force_kill_timeout: 0, config_exec_timeout: -5, cleanup_exec_timeout: 0 },
      { output_limit: -1 },
    );
    const result = await drover(["config", "check", "--config", config], {
      cwd: w.dir.path,
      env: w.env(),
    });
    expect(result.stdout).toContain("OK");
    expect(result.exitCode).toBe(0);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("job files", () => {
  const cases: Array<[string, string, string]> = [
    ["not JSON", '{"id": 1, "steps": [', "line 1 column 21: not valid JSON"],
    ["a JSON array", "[1, 2]", "(top level): expected an object, got array"],
    ["an empty file", "", "not valid JSON"],
    ["no steps", '{"id": 1, "job_info": {"name": "x"}}', "steps: missing, expected an array of steps"],
    ["no script step", '{"id": 1, "steps": []}', 'steps: expected a step named "script"'],
    ["steps of the wrong type", '{"id": 1, "steps": "echo hi"}', "steps: expected an array, got string"],
    [
      "variables of the wrong type",
      '{"id": 1, "variables": {"A": "b"}, "steps": [{"name": "script", "script": ["true"]}]}',
      "variables: expected an array, got object",
    ],
    [
      "an id of the wrong type",
      '{"id": true, "steps": [{"name": "script", "script": ["true"]}]}',
      "id: expected a non-negative integer or a non-empty string, got boolean",
    ],
    [
      "a variable key that is not a name",
      '{"id": 1, "variables": [{"key": "A;touch x", "value": "1"}], "steps": [{"name": "script", "script": ["true"]}]}',
      'variables[0].key: expected letters, digits and "_", got "A;touch x"',
    ],
  ];
  test.each(cases)(
    "%s: exit 64 naming the file and the field; the good job beside it does not run either",
    async (_name, text, message) => {
      using w = world();
      const ran = join(w.dir.path, "ran");
      const good = w.job("good", { script: [`touch ${ran}`] });
      const bad = w.dir.file("bad.json", text);
      const result = await drover(["exec", "--config", shellRunnerConfig(w.dir), good, bad], {
        cwd: w.dir.path,
        env: w.env(),
      });
      expect(result.exitCode).toBe(64);
      expect(result.stderr).toContain(`invalid job in ${bad}: `);
      expect(result.stderr).toContain(message);
      expect(result.stdout).toBe("");
      expect(existsSync(ran)).toBe(false);
      await w.expectClean();
    },
  );
});

describe("10 MiB of variables", () => {
  test("as file variables: the job runs and sees them", async () => {
    using w = world();
    const MiB = 1024 * 1024;
    const job = w.job("files", {
      variables: [
        { key: "GIT_STRATEGY", value: "none" },
        ...Array.from({ length: 10 }, (_, i) => ({ key: `FILE_${i}`, value: "f".repeat(MiB), file: true })),
        ...Array.from({ length: 100 }, (_, i) => ({ key: `PLAIN_${i}`, value: `value ${i}` })),
      ],
      script: ['echo "FILE_9 has $(wc -c < "$FILE_9") bytes, PLAIN_99=$PLAIN_99"'],
    });
    const result = await drover(["exec", "--config", shellRunnerConfig(w.dir), job], {
      cwd: w.dir.path,
      env: w.env(),
    });
    expect(result.stdout).toContain(`FILE_9 has ${MiB} bytes, PLAIN_99=value 99`);
    expect(result.exitCode).toBe(0);
    await w.expectClean();
  }, 20_000);

  test("as environment variables: refused before anything runs (64), naming the problem", async () => {
    using w = world();
    const job = w.job("plain", {
      variables: [
        { key: "GIT_STRATEGY", value: "none" },
        ...Array.from({ length: 1024 }, (_, i) => ({ key: `V${i}`, value: "v".repeat(10 * 1024) })),
      ],
      script: ["echo never printed"],
    });
    const result = await drover(["exec", "--config", shellRunnerConfig(w.dir), job], {
      cwd: w.dir.path,
      env: w.env(),
    });
    expect(result.stderr).toContain(
      "variables: 10.0 MiB of variables; a job's environment may hold at most 1 MiB",
    );
    expect(result.stdout).toBe("");
    expect(result.exitCode).toBe(64);
    await w.expectClean();
  }, 20_000);

  test("one variable too large for any environment: refused before anything runs, naming it", async () => {
    using w = world();
    const job = w.job("huge", {
      variables: [
        { key: "GIT_STRATEGY", value: "none" },
        { key: "HUGE", value: "h".repeat(200 * 1024) },
      ],
    });
    const result = await drover(["exec", "--config", customConfig(w), job], {
      cwd: w.dir.path,
      env: w.env(),
    });
    expect(result.stderr).toContain(
      "variables[1] (HUGE): its value is 200.0 KiB; an environment variable may hold at most 128 KiB",
    );
    expect(result.stdout).toBe("");
    expect(result.exitCode).toBe(64);
    await w.expectClean();
  }, 30_000);
});
