/**
 * How a finished stage process maps to a stage result: where a script's exit is interpreted for
 * the shell executor (the custom adapter has its own table, SPEC §7).
 */
import type { ChildExit } from "../../src/process/child.ts";
import { ResultKind, result } from "../sdk/index.ts";

export function stageResultFor(exit: ChildExit) {
  if (exit.startError) return result(ResultKind.SYSTEM_FAILURE, 0, exit.startError.shortMessage);
  if (exit.gaveUp)
    return result(ResultKind.SYSTEM_FAILURE, 0, "the stage's processes did not exit after SIGKILL");
  if (exit.exitCode === 0) return result(ResultKind.SUCCESS);
  if (exit.exitCode !== undefined)
    return result(ResultKind.BUILD_FAILURE, exit.exitCode, `exit status ${exit.exitCode}`);
  // Killed by a signal: bash reports 128+N; so do we, and the job fails like a failing script.
  const signalNumber = exit.signal ? (signalNumbers[exit.signal] ?? 0) : 0;
  return result(ResultKind.BUILD_FAILURE, 128 + signalNumber, `terminated by ${exit.signal ?? "a signal"}`);
}

const signalNumbers: Partial<Record<NodeJS.Signals, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};
