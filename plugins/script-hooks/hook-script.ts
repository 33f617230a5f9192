/**
 * How one hook script runs (docs/hooks.md), streamed as LifecycleEvents:
 *
 *  1. `##[group]Run '<path>'`, then checks: an absolute path, `.sh`, `.ps1` or `.js`, an existing,
 *     readable regular file nobody else can change, an interpreter (shell.ts). A failed check ends
 *     the run with a CONFIGURATION_ERROR result naming the hook and what is wrong.
 *  2. `shell: /usr/bin/bash -e {0}` and GitHub's "A job started hook has been configured by the
 *     self-hosted runner administrator", `##[endgroup]`.
 *  3. The script runs through startChild (own process group, per-script timeout with SIGTERM →
 *     grace → SIGKILL to the group, cancellation when drover cancels the call, the job's
 *     containment) with the environment of hook-env.ts, in $GITHUB_WORKSPACE, made first if it is
 *     missing (GitHub makes it before the job's first step). A private directory (0700) below the
 *     job's (job-state.ts) holds the job JSON, the event and the environment files (0600); it is
 *     removed afterwards. RUNNER_TEMP is the job's. Where the job has a containment, what the
 *     script leaves running in the background lives on until the job ends (GitHub's "async
 *     hooks"); its output ends the step no later than startChild's output hold after the exit.
 *  4. Output lines go through the workflow-command parser (output-events.ts): text as printed,
 *     annotations, masks, `##[group]`/`##[endgroup]`, `##[debug]` lines (step debug only),
 *     `::set-env`/`::add-path` where ACTIONS_ALLOW_UNSECURE_COMMANDS allows them.
 *  5. After exit, as GitHub does even when the script failed (file-commands.ts): GITHUB_PATH →
 *     add_path (file order, each prepended, so the last line ends up first), GITHUB_ENV → set_env,
 *     GITHUB_STEP_SUMMARY → step_summary (at most 1 MiB; over that an error and no summary).
 *  6. The result: SUCCESS; BUILD_FAILURE with the exit code (`Hook /x.sh exited with code 3`, after
 *     GitHub's "Process completed with exit code 3." annotation), on timeout, on a signal, or when a
 *     workflow or file command failed (GitHub fails the step then too); SYSTEM_FAILURE when the
 *     interpreter could not be started or its files could not be prepared.
 */
import { accessSync, constants, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import {
  type ChildExit,
  describeTrustProblem,
  type JobContext,
  type JobOutcome,
  mergeOutput,
  pathTrustProblems,
  startChild,
} from "@drover/plugin-sdk";
import { annotationEvent, type LifecycleEventInit, outputEvent, ResultKind, resultEvent } from "./events.ts";
import { EnvBudget, fileCommandEvents } from "./file-commands.ts";
import { type HookEvent, type HookFiles, hookEnvironment } from "./hook-env.ts";
import { type HookJobState, HookJobs } from "./job-state.ts";
import { OutputProcessor } from "./output-events.ts";
import { LineSplitter } from "./output-lines.ts";
import { chooseShell } from "./shell.ts";
import { allowUnsecureCommands } from "./workflow-commands.ts";

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
  /**
   * The job's state (job-state.ts): RUNNER_TEMP, and what the job's earlier started hooks exported.
   * Without it, the run makes a state of its own and removes it afterwards.
   */
  state?: HookJobState;
  /** Where a state of its own is made; defaults to the system temp dir. */
  tmpDir?: string;
  /** How long a background process may keep the step's output open after the exit (startChild). */
  outputHoldMs?: number;
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

/** Makes the private directory of one run, below the job's: 0700, files 0600. */
function prepareFiles(state: HookJobState, jobJson: Uint8Array): HookFiles {
  const dir = state.runDir();
  const files: HookFiles = {
    dir,
    jobJson: join(dir, "job.json"),
    event: join(dir, "event.json"),
    env: join(dir, "set_env"),
    path: join(dir, "add_path"),
    stepSummary: join(dir, "step_summary"),
    output: join(dir, "set_output"),
    state: join(dir, "save_state"),
    temp: state.temp,
    fileVariables: join(dir, "variables"),
  };
  writeFileSync(files.jobJson, jobJson, { mode: 0o600 });
  for (const file of [files.env, files.path, files.stepSummary, files.output, files.state])
    writeFileSync(file, "", { mode: 0o600 });
  mkdirSync(files.fileVariables, { mode: 0o700 });
  return files;
}

function removeDir(files: HookFiles | undefined): void {
  if (files) rmSync(files.dir, { recursive: true, force: true });
}

/**
 * Makes a directory the hook expects to exist (GITHUB_WORKSPACE, RUNNER_TOOL_CACHE) as drover's
 * user, as GitHub's runner makes them before a job's first step. Returns why it could not, e.g.
 * for a custom executor whose builds directory exists only inside its VM.
 */
function makeDirectory(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true });
    return statSync(dir).isDirectory() ? undefined : "not a directory";
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
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
 * script or its files do; the process group is stopped (unless the script ended and left only
 * background processes, which the job's end stops) and the run's private directory removed however
 * the caller stops iterating.
 */
export async function* runHookScript(options: HookScriptOptions): AsyncGenerator<LifecycleEventInit> {
  const { path, job } = options;
  const baseEnv = options.baseEnv ?? process.env;
  yield outputEvent("stdout", `##[group]Run '${path}'\n`);
  const problem = checkScript(path);
  if (problem !== undefined) {
    yield outputEvent("stdout", "##[endgroup]\n");
    yield resultEvent(ResultKind.CONFIGURATION_ERROR, 0, problem);
    return;
  }

  // A run on its own (no job state given) has a job state of its own.
  const ownJob = options.state ? undefined : new HookJobs(options.tmpDir ?? tmpdir());
  let files: HookFiles | undefined;
  try {
    const debug = stepDebug(job);
    let env: Record<string, string>;
    try {
      const state = options.state ?? (ownJob as HookJobs).open(job);
      files = prepareFiles(state, job.jobJson);
      const built = hookEnvironment({
        event: options.event,
        base: baseEnv,
        job,
        files,
        debug,
        exported: state.exported,
        ...(options.completed ? { completed: options.completed } : {}),
      });
      for (const variable of built.fileVariables)
        writeFileSync(variable.path, variable.content, { mode: 0o600 });
      writeFileSync(files.event, `${JSON.stringify(built.event)}\n`, { mode: 0o600 });
      env = built.env;
    } catch (err) {
      yield outputEvent("stdout", "##[endgroup]\n");
      yield resultEvent(
        ResultKind.SYSTEM_FAILURE,
        0,
        `Hook ${path}: could not prepare its files: ${err instanceof Error ? err.message : String(err)}`,
      );
      return;
    }
    // The interpreter is looked for where the hook will look: with the job's GITHUB_PATH in front.
    const choice = chooseShell(path, env.PATH);
    if (!choice.ok) {
      yield outputEvent("stdout", "##[endgroup]\n");
      yield resultEvent(ResultKind.CONFIGURATION_ERROR, 0, choice.message);
      return;
    }
    const shell = choice.shell;
    const who = options.event === "job_started" ? "job started" : "job completed";
    yield outputEvent(
      "stdout",
      `shell: ${shell.display}\nA ${who} hook has been configured by the self-hosted runner administrator\n##[endgroup]\n`,
    );

    // GitHub runs hooks in the workspace, which exists before the job's first step.
    let cwd = files.temp;
    const workspace = env.GITHUB_WORKSPACE;
    const workspaceProblem = workspace === undefined ? undefined : makeDirectory(workspace);
    if (workspace !== undefined && workspaceProblem === undefined) cwd = workspace;
    else if (workspace !== undefined)
      yield annotationEvent(
        "warning",
        `GITHUB_WORKSPACE ${workspace} could not be created on this host (${workspaceProblem}): the hook runs in RUNNER_TEMP`,
      );
    const toolCache = env.RUNNER_TOOL_CACHE;
    const toolCacheProblem = toolCache === undefined ? undefined : makeDirectory(toolCache);
    if (toolCacheProblem !== undefined)
      yield annotationEvent(
        "warning",
        `RUNNER_TOOL_CACHE ${toolCache} could not be created (${toolCacheProblem})`,
      );

    const envBudget = new EnvBudget();
    const processor = new OutputProcessor({
      debug,
      allowUnsecureCommands: allowUnsecureCommands(env),
      envBudget,
    });
    const containment = job.containment;
    // What stops a job's leftovers when it ends: only with it may a hook's background processes
    // outlive the script (GitHub's async hooks).
    const jobEndStopsThem = Boolean(containment?.trackingId || containment?.cgroup);
    const child = startChild({
      name: `hook ${path}`,
      command: shell.command,
      args: shell.args,
      cwd,
      env,
      graceMs: options.graceMs ?? DEFAULT_GRACE_MS,
      ...(options.timeoutSeconds === undefined ? {} : { timeoutMs: options.timeoutSeconds * 1000 }),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(shell.embeddedRuntime ? { embeddedRuntime: true } : {}),
      // The hook works for the job: what it leaves running ends with the job.
      ...(containment ? { job: containment } : {}),
      ...(jobEndStopsThem ? { keepBackground: true } : {}),
      ...(options.outputHoldMs === undefined ? {} : { outputHoldMs: options.outputHoldMs }),
    });
    try {
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
      const fileCommands = fileCommandEvents(files, envBudget);
      yield* fileCommands.events;
      yield* resultFor(path, exit, options.timeoutSeconds, processor.commandFailure ?? fileCommands.failure);
    } finally {
      // The consumer went away (cancel) or something failed: the hook's processes stop too.
      child.stop("cancel");
      await child.exited;
    }
  } finally {
    removeDir(files);
    ownJob?.closeAll();
  }
}
