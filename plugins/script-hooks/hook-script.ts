/**
 * How one hook script runs (docs/hooks.md), streamed as LifecycleEvents:
 *
 *  1. `##[group]Run '<path>'`, then checks: an absolute path, `.sh` or `.ps1`, an existing,
 *     readable regular file, an interpreter on PATH (shell.ts). A failed check ends the run with a
 *     CONFIGURATION_ERROR result naming the hook and what is wrong.
 *  2. `shell: /usr/bin/bash -e {0}` and GitHub's "A job started hook has been configured by the
 *     self-hosted runner administrator", `##[endgroup]`.
 *  3. The script runs through startChild (own process group, per-script timeout with SIGTERM →
 *     grace → SIGKILL to the group, cancellation when drover cancels the call) with the environment
 *     of hook-env.ts. A fresh private directory (0700) holds the job JSON and the environment
 *     files (0600) and RUNNER_TEMP, the working directory; it is removed afterwards.
 *  4. Output lines go through the workflow-command parser (output-events.ts): text as printed,
 *     annotations, masks, `##[group]`/`##[endgroup]`, `##[debug]` lines (step debug only).
 *  5. After exit, as GitHub does even when the script failed (file-commands.ts): GITHUB_PATH →
 *     add_path (file order, each prepended, so the last line ends up first), GITHUB_ENV → set_env,
 *     GITHUB_STEP_SUMMARY → step_summary (at most 1 MiB; over that an error and no summary).
 *  6. The result: SUCCESS; BUILD_FAILURE with the exit code (`Hook /x.sh exited with code 3`, after
 *     GitHub's "Process completed with exit code 3." annotation), on timeout, on a signal, or when a
 *     workflow or file command failed (GitHub fails the step then too); SYSTEM_FAILURE when the
 *     interpreter could not be started or its files could not be prepared.
 */
import { accessSync, chmodSync, constants, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import {
  type ChildExit,
  describeTrustProblem,
  type JobContext,
  type JobOutcome,
  mergeOutput,
  ownedTempDir,
  pathTrustProblems,
  startChild,
} from "@drover/plugin-sdk";
import { annotationEvent, type LifecycleEventInit, outputEvent, ResultKind, resultEvent } from "./events.ts";
import { fileCommandEvents } from "./file-commands.ts";
import { type HookEvent, type HookFiles, hookEnvironment } from "./hook-env.ts";
import { OutputProcessor } from "./output-events.ts";
import { LineSplitter } from "./output-lines.ts";
import { chooseShell } from "./shell.ts";

export { STEP_SUMMARY_LIMIT } from "./file-commands.ts";

/** SIGTERM → SIGKILL delay when a hook times out or is cancelled. */
export const DEFAULT_GRACE_MS = 5_000;

export interface HookScriptOptions {
  event: HookEvent;
  /** As configured: must be absolute. */
  path: string;
  timeoutSeconds?: number;
  job: JobContext;
  /** JobCompleted: how the job ended, and what the started hooks exported. */
  completed?: { outcome: JobOutcome | undefined; exportedEnv: Record<string, string> };
  /** drover's environment; defaults to this process's. */
  baseEnv?: Record<string, string | undefined>;
  /** Cancels the hook (process group stopped). */
  signal?: AbortSignal;
  graceMs?: number;
  /** Where the per-run private directory is made; defaults to the system temp dir. */
  tmpDir?: string;
}

/** Step debug: ACTIONS_STEP_DEBUG (GitHub) or CI_DEBUG_TRACE (GitLab) is "true", in any case. */
function stepDebug(job: JobContext): boolean {
  return job.variables.some(
    (v) => (v.key === "ACTIONS_STEP_DEBUG" || v.key === "CI_DEBUG_TRACE") && v.value.toLowerCase() === "true",
  );
}

/** Why the script cannot run, or undefined. */
function checkScript(path: string): string | undefined {
  if (!isAbsolute(path)) return `Hook ${path}: the path must be absolute`;
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "ENOENT" || code === "ENOTDIR"
      ? `Hook ${path}: the file does not exist`
      : `Hook ${path}: cannot read the file (${code ?? String(err)})`;
  }
  if (!isFile) return `Hook ${path}: not a regular file`;
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    return `Hook ${path}: the file is not readable by drover's user (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
  // It runs as drover's user on the host: nobody else may be able to change it (docs/security.md).
  const untrusted = pathTrustProblems(path)[0];
  if (untrusted) return `Hook ${path}: refusing to run it: ${describeTrustProblem(untrusted)}`;
  return undefined;
}

/** Makes the private directory of one run: 0700, files 0600. */
function prepareFiles(tmpDir: string, jobJson: Uint8Array): HookFiles {
  // Named after its owner (the job JSON is in it): removed at the next start of drover if this
  // process is SIGKILLed (kernel/process/owned-temp-dirs.ts).
  const dir = ownedTempDir("drover-hook-", tmpDir);
  chmodSync(dir, 0o700);
  const files: HookFiles = {
    dir,
    jobJson: join(dir, "job.json"),
    event: join(dir, "event.json"),
    env: join(dir, "set_env"),
    path: join(dir, "add_path"),
    stepSummary: join(dir, "step_summary"),
    output: join(dir, "set_output"),
    state: join(dir, "save_state"),
    temp: join(dir, "temp"),
    fileVariables: join(dir, "variables"),
  };
  writeFileSync(files.jobJson, jobJson, { mode: 0o600 });
  for (const file of [files.env, files.path, files.stepSummary, files.output, files.state])
    writeFileSync(file, "", { mode: 0o600 });
  mkdirSync(files.temp, { mode: 0o700 });
  mkdirSync(files.fileVariables, { mode: 0o700 });
  return files;
}

function removeDir(files: HookFiles | undefined): void {
  if (files) rmSync(files.dir, { recursive: true, force: true });
}

function signalNumber(signal: NodeJS.Signals | undefined): number {
  return signal ? ((osConstants.signals as Record<string, number>)[signal] ?? 0) : 0;
}

function resultFor(
  path: string,
  exit: ChildExit,
  timeoutSeconds: number | undefined,
  failure: string | undefined,
) {
  const events: LifecycleEventInit[] = [];
  const code = exit.exitCode ?? 128 + signalNumber(exit.signal);
  if (exit.startError) {
    events.push(resultEvent(ResultKind.SYSTEM_FAILURE, 0, `Hook ${path}: ${exit.startError.shortMessage}`));
  } else if (exit.gaveUp) {
    events.push(
      resultEvent(ResultKind.SYSTEM_FAILURE, 0, `Hook ${path}: its processes did not exit after SIGKILL`),
    );
  } else if (exit.timedOut) {
    events.push(
      resultEvent(
        ResultKind.BUILD_FAILURE,
        code,
        `Hook ${path} timed out after ${timeoutSeconds}s; its processes were stopped`,
      ),
    );
  } else if (exit.canceled) {
    events.push(resultEvent(ResultKind.BUILD_FAILURE, code, `Hook ${path} was cancelled`));
  } else if (exit.exitCode !== undefined && exit.exitCode !== 0) {
    events.push(annotationEvent("error", `Process completed with exit code ${exit.exitCode}.`));
    events.push(
      resultEvent(ResultKind.BUILD_FAILURE, exit.exitCode, `Hook ${path} exited with code ${exit.exitCode}`),
    );
  } else if (exit.exitCode === undefined) {
    events.push(
      resultEvent(
        ResultKind.BUILD_FAILURE,
        code,
        `Hook ${path} was terminated by ${exit.signal ?? "a signal"}`,
      ),
    );
  } else if (failure !== undefined) {
    events.push(resultEvent(ResultKind.BUILD_FAILURE, 0, `Hook ${path}: ${failure}`));
  } else {
    events.push(resultEvent(ResultKind.SUCCESS));
  }
  return events;
}

/**
 * Runs one hook script; yields its events, the last one a result. Never throws for anything the
 * script or its files do; the process group is stopped and the private directory removed however
 * the caller stops iterating.
 */
export async function* runHookScript(options: HookScriptOptions): AsyncGenerator<LifecycleEventInit> {
  const { path, job } = options;
  const baseEnv = options.baseEnv ?? process.env;
  yield outputEvent("stdout", `##[group]Run '${path}'\n`);
  const problem = checkScript(path);
  const choice = problem === undefined ? chooseShell(path, baseEnv.PATH) : undefined;
  if (problem !== undefined || !choice?.ok) {
    yield outputEvent("stdout", "##[endgroup]\n");
    yield resultEvent(
      ResultKind.CONFIGURATION_ERROR,
      0,
      problem ?? (choice && !choice.ok ? choice.message : ""),
    );
    return;
  }
  const shell = choice.shell;
  const who = options.event === "job_started" ? "job started" : "job completed";
  yield outputEvent(
    "stdout",
    `shell: ${shell.display}\nA ${who} hook has been configured by the self-hosted runner administrator\n##[endgroup]\n`,
  );

  let files: HookFiles | undefined;
  try {
    const debug = stepDebug(job);
    let env: Record<string, string>;
    try {
      files = prepareFiles(options.tmpDir ?? tmpdir(), job.jobJson);
      const built = hookEnvironment({
        event: options.event,
        base: baseEnv,
        job,
        files,
        debug,
        ...(options.completed ? { completed: options.completed } : {}),
      });
      for (const variable of built.fileVariables)
        writeFileSync(variable.path, variable.content, { mode: 0o600 });
      writeFileSync(files.event, `${JSON.stringify(built.event)}\n`, { mode: 0o600 });
      env = built.env;
    } catch (err) {
      yield resultEvent(
        ResultKind.SYSTEM_FAILURE,
        0,
        `Hook ${path}: could not prepare its files: ${err instanceof Error ? err.message : String(err)}`,
      );
      return;
    }

    const child = startChild({
      name: `hook ${path}`,
      command: shell.command,
      args: shell.args,
      cwd: files.temp,
      env,
      graceMs: options.graceMs ?? DEFAULT_GRACE_MS,
      ...(options.timeoutSeconds === undefined ? {} : { timeoutMs: options.timeoutSeconds * 1000 }),
      ...(options.signal ? { signal: options.signal } : {}),
      // The hook works for the job: what it leaves running ends with the job.
      ...(options.job.containment ? { job: options.job.containment } : {}),
    });
    try {
      const processor = new OutputProcessor(debug);
      const splitters = { stdout: new LineSplitter(), stderr: new LineSplitter() };
      for await (const chunk of mergeOutput(child.stdout, child.stderr)) {
        const out: LifecycleEventInit[] = [];
        for (const line of splitters[chunk.stream].push(chunk.data)) processor.line(chunk.stream, line, out);
        processor.flush(out);
        yield* out;
      }
      const out: LifecycleEventInit[] = [];
      for (const stream of ["stdout", "stderr"] as const)
        for (const line of splitters[stream].end()) processor.line(stream, line, out);
      processor.flush(out);
      yield* out;

      const exit = await child.exited;
      const fileCommands = fileCommandEvents(files);
      yield* fileCommands.events;
      yield* resultFor(path, exit, options.timeoutSeconds, processor.commandFailure ?? fileCommands.failure);
    } finally {
      // The consumer went away (cancel) or something failed: the hook's processes stop too.
      child.stop("cancel");
      await child.exited;
    }
  } finally {
    removeDir(files);
  }
}
