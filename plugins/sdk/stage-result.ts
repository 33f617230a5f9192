/**
 * How a finished stage process becomes a stage result, for an executor that runs each stage as one
 * process (drover's shell executor, the sandbox example): exit 0 is success, another exit code a
 * script failure with that code, death by a signal a script failure with bash's 128+N, and a
 * process that never started or never went away a system failure.
 *
 * @example
 * const child = startChild({ name: `stage ${request.stage}`, command: "bash", args: [script], env, graceMs: 10_000, signal: ctx.signal });
 * for await (const chunk of mergeOutput(child.stdout, child.stderr)) yield output(chunk.stream, chunk.data);
 * yield stageResultFromExit(await child.exited);
 */
import { ResultKind } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import type { ChildExit } from "../../kernel/process/child.ts";
import { type ResultEvent, result } from "./events.ts";

export function stageResultFromExit(exit: ChildExit): ResultEvent {
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
