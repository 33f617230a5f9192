/** The one place a driver's exit is interpreted (plugins/custom/exit-status.ts; docs/custom-executor.md). */
import { describe, expect, test } from "bun:test";
import { DroverError } from "../../kernel/errors.ts";
import type { ChildExit } from "../../kernel/process/child.ts";
import { interpretDriverExit, parseBuildExitCode } from "../../plugins/custom/exit-status.ts";
import { ResultKind } from "../../plugins/sdk/index.ts";

function exited(overrides: Partial<ChildExit>): ChildExit {
  return {
    exitCode: undefined,
    signal: undefined,
    timedOut: false,
    canceled: false,
    gaveUp: false,
    startError: undefined,
    durationMs: 5,
    ...overrides,
  };
}

function interpret(
  exit: Partial<ChildExit>,
  exitCodeFile?: string,
  timeout?: { seconds: number; key: string },
) {
  let reads = 0;
  const result = interpretDriverExit(exited(exit), {
    name: "run_exec",
    pid: 4242,
    ...(timeout ? { timeout } : {}),
    forceKillSeconds: 10,
    readBuildExitCodeFile: () => {
      reads++;
      return exitCodeFile;
    },
  });
  return { result, reads };
}

describe("interpretDriverExit", () => {
  test("0 is success, and BUILD_EXIT_CODE_FILE is not even read", () => {
    expect(interpret({ exitCode: 0 }, "42")).toEqual({
      result: { kind: ResultKind.SUCCESS, exitCode: 0, message: "" },
      reads: 0,
    });
  });

  test("1 without BUILD_EXIT_CODE_FILE: a build failure with exit code 1", () => {
    expect(interpret({ exitCode: 1 }).result).toEqual({
      kind: ResultKind.BUILD_FAILURE,
      exitCode: 1,
      message: "exit status 1",
    });
  });

  test.each([
    ["42", 42],
    ["42\n", 42],
    ["42\n\nmore", 42],
    ["42\r\n", 42],
    ["0", 0],
    ["+7", 7],
    ["-1", -1],
  ])("1 with BUILD_EXIT_CODE_FILE %j: a build failure with exit code %d", (text, code) => {
    expect(interpret({ exitCode: 1 }, text).result).toEqual({
      kind: ResultKind.BUILD_FAILURE,
      exitCode: code,
      message: `exit status ${code}`,
    });
  });

  test.each(["invalid", "", "\n42", " 42", "42 ", "4.2", "99999999999"])(
    "1 with BUILD_EXIT_CODE_FILE %j: a system failure that names the file",
    (text) => {
      const { result } = interpret({ exitCode: 1 }, text);
      expect(result.kind).toBe(ResultKind.SYSTEM_FAILURE);
      expect(result.message).toContain("BUILD_EXIT_CODE_FILE holds");
    },
  );

  test("2 is a system failure", () => {
    expect(interpret({ exitCode: 2 }, "42")).toEqual({
      result: { kind: ResultKind.SYSTEM_FAILURE, exitCode: 2, message: "exit status 2" },
      reads: 0,
    });
  });

  test.each([3, 127, 255])("%d is a system failure with GitLab's message", (code) => {
    expect(interpret({ exitCode: code }).result).toEqual({
      kind: ResultKind.SYSTEM_FAILURE,
      exitCode: code,
      message: `unknown Custom executor executable exit code ${code}; executable execution terminated with: exit status ${code}`,
    });
  });

  test("a driver that could not start is a system failure saying why", () => {
    const startError = new DroverError("process", "could not start run_exec: spawn /nope ENOENT");
    expect(interpret({ startError }).result).toEqual({
      kind: ResultKind.SYSTEM_FAILURE,
      exitCode: 0,
      message: "could not start run_exec: spawn /nope ENOENT",
    });
  });

  test("stopped on its own timeout: a system failure naming the setting, whatever the exit code", () => {
    const { result } = interpret({ exitCode: 1, timedOut: true }, "42", {
      seconds: 3600,
      key: "config_exec_timeout",
    });
    expect(result).toEqual({
      kind: ResultKind.SYSTEM_FAILURE,
      exitCode: 0,
      message: "run_exec did not finish within 3600s (config_exec_timeout): it was stopped",
    });
  });

  test("canceled: a system failure", () => {
    expect(interpret({ signal: "SIGTERM", canceled: true }).result.kind).toBe(ResultKind.SYSTEM_FAILURE);
  });

  test("given up on after SIGKILL: a clear message with the pid and force_kill_timeout", () => {
    expect(interpret({ gaveUp: true, timedOut: true }).result).toEqual({
      kind: ResultKind.SYSTEM_FAILURE,
      exitCode: 0,
      message:
        "run_exec (PID 4242) was still running 10s after SIGKILL (force_kill_timeout): drover gave up on it; the process is likely dormant",
    });
  });

  test("killed by a signal nobody in drover sent: GitLab's unknown exit code -1", () => {
    expect(interpret({ signal: "SIGKILL" }).result).toEqual({
      kind: ResultKind.SYSTEM_FAILURE,
      exitCode: 0,
      message:
        "unknown Custom executor executable exit code -1; executable execution terminated with: signal SIGKILL",
    });
  });
});

describe("parseBuildExitCode", () => {
  test("reads the first line as Go's strconv.Atoi does", () => {
    expect(parseBuildExitCode("42\n\nTesting...")).toBe(42);
    expect(parseBuildExitCode("007")).toBe(7);
    expect(parseBuildExitCode("2147483647")).toBe(2147483647);
    expect(parseBuildExitCode("2147483648")).toBeUndefined();
    expect(parseBuildExitCode("0x10")).toBeUndefined();
    expect(parseBuildExitCode("")).toBeUndefined();
  });
});
