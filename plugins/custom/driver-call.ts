/**
 * One call of a driver executable (config_exec, prepare_exec, run_exec or cleanup_exec): started
 * through kernel/process/child.ts in its own process group, in the job's temp dir, with the driver
 * environment; its output streamed back as it comes (never buffered until exit), except config_exec's
 * stdout, which is the JSON answer and is collected. Stopped on its own timeout or on cancel with
 * SIGTERM to the group → `graceful_kill_timeout` → SIGKILL → `force_kill_timeout` → give up.
 *
 * Used with `yield*` from a handler, which forwards the output events and gets the outcome:
 *
 * @example
 * const outcome = yield* callDriver({ name: "prepare_exec", command, args, ... });
 * yield result(outcome.result.kind, outcome.result.exitCode, outcome.result.message);
 */
import {
  type Child,
  type JobProcesses,
  mergeOutput,
  type OutputEvent,
  output,
  startChild,
} from "@drover/plugin-sdk";
import { type DriverResult, interpretDriverExit } from "./exit-status.ts";
import { forgetBuildExitCode, type JobDir, readBuildExitCodeFile } from "./job-dir.ts";

export type DriverName = "config_exec" | "prepare_exec" | "run_exec" | "cleanup_exec";

export interface DriverCall {
  name: DriverName;
  command: string;
  args: readonly string[];
  dir: JobDir;
  env: Record<string, string>;
  /** The call's own limit (config/prepare/cleanup); run_exec has none, the core times stages out. */
  timeout?: { seconds: number; key: string };
  gracefulKillSeconds: number;
  forceKillSeconds: number;
  /** Cancel: the gRPC call went away. */
  signal: AbortSignal;
  /** Collect stdout instead of streaming it (config_exec). */
  captureStdout?: boolean;
  /** The job's containment: the driver and what it starts on this host end with the job. */
  job?: JobProcesses;
  /** Told when the process starts and when it is gone, so a job can wait for its drivers. */
  track?: { add(child: Child): void; delete(child: Child): void };
}

export interface DriverOutcome {
  result: DriverResult;
  /** Collected stdout; empty unless `captureStdout`. */
  stdout: Buffer;
}

export async function* callDriver(call: DriverCall): AsyncGenerator<OutputEvent, DriverOutcome> {
  forgetBuildExitCode(call.dir);
  const child = startChild({
    name: call.name,
    command: call.command,
    args: call.args,
    cwd: call.dir.path,
    env: call.env,
    ...(call.timeout ? { timeoutMs: call.timeout.seconds * 1000 } : {}),
    signal: call.signal,
    graceMs: call.gracefulKillSeconds * 1000,
    giveUpMs: call.forceKillSeconds * 1000,
    ...(call.job ? { job: call.job } : {}),
    // GitLab gives prepare_exec and run_exec one writer (the job log) for stdout and stderr, so
    // one pipe: their order is kept. config_exec's stdout is its answer and cleanup_exec's two
    // streams go to different log levels: two pipes.
    output: call.name === "prepare_exec" || call.name === "run_exec" ? "combined" : "separate",
  });
  call.track?.add(child);
  // Pipes a process drover gave up on (stuck in the kernel) still holds never end: stop reading them.
  const gaveUp = new Error("gave up on the driver");
  void child.exited.then((exit) => {
    if (exit.gaveUp) {
      child.stdout.destroy(gaveUp);
      child.stderr.destroy(gaveUp);
    }
  });
  const collected: Buffer[] = [];
  try {
    // No pid: it could not start (its pipes are closed without an "end"); the exit says why.
    if (child.pid !== undefined) {
      try {
        for await (const chunk of mergeOutput(child.stdout, child.stderr)) {
          if (call.captureStdout && chunk.stream === "stdout") collected.push(Buffer.from(chunk.data));
          else yield output(chunk.stream, chunk.data);
        }
      } catch (err) {
        if (err !== gaveUp) throw err;
      }
    }
    const exit = await child.exited;
    const result = interpretDriverExit(exit, {
      name: call.name,
      pid: child.pid,
      ...(call.timeout ? { timeout: call.timeout } : {}),
      forceKillSeconds: call.forceKillSeconds,
      readBuildExitCodeFile: () => readBuildExitCodeFile(call.dir),
    });
    return { result, stdout: Buffer.concat(collected) };
  } finally {
    // The consumer went away (cancel) or something threw: the driver must not outlive the call.
    child.stop("cancel");
    await child.exited;
    call.track?.delete(child);
  }
}
