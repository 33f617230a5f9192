/**
 * `[runners.custom]` as the custom executor plugin reads it (plugins/custom/settings.ts): GitLab's
 * defaults and wording. Through config check the same problems get file:line
 * (test/unit/config-check.test.ts).
 */
import { describe, expect, test } from "bun:test";
import { readCustomSettings } from "../../plugins/custom/settings.ts";

describe("readCustomSettings", () => {
  test("GitLab's defaults: '' is not set, a timeout ≤0 is the default; unknown keys are warnings", () => {
    expect(
      readCustomSettings({
        config_exec: "/opt/lxd/config.sh",
        config_args: ["--verbose"],
        config_exec_timeout: 0,
        prepare_exec: "/opt/lxd/prepare.sh",
        prepare_exec_timeout: -5,
        run_exec: "/opt/lxd/run.sh",
        run_args: ["run"],
        cleanup_exec: "",
        cleanup_exec_timeout: 60,
        graceful_kill_timeout: 30,
        force_kill_timeout: 0,
        poll_interval: 3,
      }),
    ).toEqual({
      settings: {
        configExec: "/opt/lxd/config.sh",
        configArgs: ["--verbose"],
        configExecTimeoutSeconds: 3600,
        prepareExec: "/opt/lxd/prepare.sh",
        prepareArgs: [],
        prepareExecTimeoutSeconds: 3600,
        runExec: "/opt/lxd/run.sh",
        runArgs: ["run"],
        cleanupArgs: [],
        cleanupExecTimeoutSeconds: 60,
        gracefulKillTimeoutSeconds: 30,
        forceKillTimeoutSeconds: 10,
      },
      problems: [{ severity: "warning", path: ["poll_interval"], message: "unknown key, ignored" }],
    });
  });

  test.each([
    ["no table", undefined, [[], "custom executor not configured"]],
    ["not a table", "x", [[], 'expected a table, got string "x"']],
    ["no run_exec", { config_exec: "/c" }, [["run_exec"], "custom executor is missing RunExec"]],
    ["an empty run_exec", { run_exec: "" }, [["run_exec"], "custom executor is missing RunExec"]],
    ["a run_exec of the wrong type", { run_exec: 3 }, [["run_exec"], "expected a string, got integer 3"]],
    [
      "args that are not strings",
      { run_exec: "/r", prepare_args: ["a", 2] },
      [["prepare_args", 1], "expected a string, got integer 2"],
    ],
    [
      "a fractional timeout",
      { run_exec: "/r", force_kill_timeout: 1.5 },
      [["force_kill_timeout"], "expected an integer, got float 1.5"],
    ],
  ] as const)("%s is an error, in GitLab's words where GitLab has them", (_, table, [path, message]) => {
    expect(readCustomSettings(table)).toEqual({
      settings: undefined,
      problems: [{ severity: "error", path, message }],
    });
  });
});
