/**
 * The one place a driver's exit is interpreted (docs/custom-executor.md, GitLab Runner's
 * executors/custom/command/command.go):
 *
 *   0                        success
 *   1 BUILD_FAILURE_EXIT_CODE the job's script failed; when BUILD_EXIT_CODE_FILE exists, its first
 *                            line is the job's exit code ("42", "42\n\nmore" → 42); anything else in
 *                            it ("invalid", "", " 42") is a system failure
 *   2 SYSTEM_FAILURE_EXIT_CODE system failure (the core retries where the stage retries)
 *   anything else            system failure: "unknown Custom executor executable exit code N"
 *   could not start          system failure
 *
 * Stopped by drover (its own timeout, or cancel) is a system failure whatever the exit code: the
 * driver did not get to say how the job went. A driver still there `force_kill_timeout` after SIGKILL
 * is given up on, and the message says so.
 */
import { type ChildExit, ResultKind } from "@drover/plugin-sdk";

export const BUILD_FAILURE_EXIT_CODE = 1;
export const SYSTEM_FAILURE_EXIT_CODE = 2;

export interface DriverResult {
  kind: ResultKind;
  exitCode: number;
  message: string;
}

export interface ExitContext {
  /** "config_exec", "prepare_exec", "run_exec", "cleanup_exec". */
  name: string;
  pid: number | undefined;
  /** The call's own limit, for the message (run_exec has none: the core times stages out). */
  timeout?: { seconds: number; key: string };
  forceKillSeconds: number;
  /** BUILD_EXIT_CODE_FILE's text, undefined when absent; read only for exit code 1. */
  readBuildExitCodeFile: () => string | undefined;
}

export function interpretDriverExit(exit: ChildExit, ctx: ExitContext): DriverResult {
  if (exit.startError) return systemFailure(exit.startError.shortMessage);
  if (exit.gaveUp) {
    return systemFailure(
      `${ctx.name} (PID ${ctx.pid ?? "?"}) was still running ${ctx.forceKillSeconds}s after SIGKILL ` +
        "(force_kill_timeout): drover gave up on it; the process is likely dormant",
    );
  }
  if (exit.timedOut) {
    const limit = ctx.timeout ? ` within ${ctx.timeout.seconds}s (${ctx.timeout.key})` : " in time";
    return systemFailure(`${ctx.name} did not finish${limit}: it was stopped`);
  }
  if (exit.canceled) return systemFailure(`${ctx.name} was stopped: the job was canceled`);
  if (exit.exitCode === undefined) {
    // Killed by a signal nobody in drover sent. GitLab reports Go's exit code -1 here.
    return systemFailure(
      `unknown Custom executor executable exit code -1; executable execution terminated with: signal ${exit.signal ?? "unknown"}`,
    );
  }
  const code = exit.exitCode;
  if (code === 0) return { kind: ResultKind.SUCCESS, exitCode: 0, message: "" };
  if (code === BUILD_FAILURE_EXIT_CODE) return buildFailure(ctx.readBuildExitCodeFile());
  if (code === SYSTEM_FAILURE_EXIT_CODE) return { ...systemFailure(`exit status ${code}`), exitCode: code };
  return {
    ...systemFailure(
      `unknown Custom executor executable exit code ${code}; executable execution terminated with: exit status ${code}`,
    ),
    exitCode: code,
  };
}

function buildFailure(fileText: string | undefined): DriverResult {
  if (fileText === undefined) {
    return { kind: ResultKind.BUILD_FAILURE, exitCode: 1, message: "exit status 1" };
  }
  const code = parseBuildExitCode(fileText);
  if (code === undefined) {
    // GitLab reports this as "unknown Custom executor executable exit code 2"; the cause is the file.
    const firstLine = firstLineOf(fileText);
    return {
      ...systemFailure(
        `the driver exited with BUILD_FAILURE_EXIT_CODE but BUILD_EXIT_CODE_FILE holds ${JSON.stringify(firstLine.slice(0, 80))}: expected an integer exit code on its first line`,
      ),
      exitCode: 1,
    };
  }
  return { kind: ResultKind.BUILD_FAILURE, exitCode: code, message: `exit status ${code}` };
}

/**
 * The exit code on the first line of BUILD_EXIT_CODE_FILE, as Go's `strconv.Atoi` reads it (an
 * optional sign, digits, nothing else: no spaces), within the 32-bit range the protocol carries.
 */
export function parseBuildExitCode(text: string): number | undefined {
  const line = firstLineOf(text);
  if (!/^[+-]?[0-9]{1,10}$/.test(line)) return undefined;
  const code = Number(line);
  return code >= -2147483648 && code <= 2147483647 ? code : undefined;
}

/** bufio.ScanLines: up to the first "\n", one trailing "\r" dropped. */
function firstLineOf(text: string): string {
  const end = text.indexOf("\n");
  const line = end === -1 ? text : text.slice(0, end);
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

function systemFailure(message: string): DriverResult {
  return { kind: ResultKind.SYSTEM_FAILURE, exitCode: 0, message };
}
