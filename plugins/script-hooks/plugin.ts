/**
 * The built-in `script-hooks` lifecycle plugin (docs/hooks.md): GitHub Actions runner job hooks. drover
 * starts it (the same binary in plugin mode) when any hook script is configured, and calls
 * JobStarted before prepare and JobCompleted after cleanup; the scripts to run come with every call
 * in JobContext.runner_settings_json (settings.ts).
 *
 *  - JobStarted runs the `job_started` scripts in order and stops at the first that fails: its
 *    failed result fails the job.
 *  - JobCompleted runs every `job_completed` script, even after one failed (they are cleanup), and
 *    ends with the first failure.
 *  - Each script's events stream back as it runs (hook-script.ts); only one result ends the stream.
 *  - A job's hooks share its state (job-state.ts): RUNNER_TEMP, and what its started hooks exported
 *    (GITHUB_ENV, GITHUB_PATH), which every later hook of the job sees. The state goes after the
 *    job's JobCompleted; after JobStarted already when no completed script is set (then no
 *    JobCompleted comes); at shutdown for every job.
 *
 * @example
 * // plugin mode entry (main.ts)
 * await serveLifecycle(scriptHooksPlugin("1.2.3"));
 */

import { tmpdir } from "node:os";
import {
  create,
  type HandlerContext,
  type JobContext,
  JobContextSchema,
  type JobOutcome,
  type LifecyclePlugin,
} from "@drover/plugin-sdk";
import { type LifecycleEventInit, ResultKind, resultEvent } from "./events.ts";
import type { HookEvent } from "./hook-env.ts";
import { runHookScript } from "./hook-script.ts";
import { HookJobs, type StartedExports } from "./job-state.ts";
import { parseScriptHooksSettings } from "./settings.ts";

export interface ScriptHooksOptions {
  /** The environment hooks start from; defaults to this process's (drover's, scrubbed). */
  baseEnv?: Record<string, string | undefined>;
  /** SIGTERM → SIGKILL delay for a timed-out or cancelled hook. */
  graceMs?: number;
  /** Where each job's private directory is made; defaults to the system temp dir. */
  tmpDir?: string;
  /** How long a started hook's background process may keep its step's output open (startChild). */
  outputHoldMs?: number;
}

/** Keeps what a started hook's event exports, as the core applies it to the job's later stages. */
function recordExport(exported: StartedExports, event: LifecycleEventInit): void {
  const e = event.event;
  if (e?.case === "setEnv" && e.value.name !== undefined) exported.env[e.value.name] = e.value.value ?? "";
  else if (e?.case === "addPath" && e.value) exported.pathPrepend.unshift(e.value);
}

/** The plugin: info, the two Lifecycle handlers, and shutdown (stops every running hook). */
export function scriptHooksPlugin(version: string, options: ScriptHooksOptions = {}): LifecyclePlugin {
  /** Calls in flight: shutdown aborts them and waits until their processes are gone. */
  const running = new Set<{ abort: AbortController; done: Promise<void> }>();
  const jobs = new HookJobs(options.tmpDir ?? tmpdir());

  async function* runScripts(
    event: HookEvent,
    job: JobContext | undefined,
    ctx: HandlerContext,
    completed?: { outcome: JobOutcome | undefined; exportedEnv: Record<string, string> },
  ): AsyncGenerator<LifecycleEventInit> {
    const context = job ?? create(JobContextSchema);
    const parsed = parseScriptHooksSettings(context.runnerSettingsJson);
    if (!parsed.ok) {
      yield resultEvent(ResultKind.CONFIGURATION_ERROR, 0, parsed.message);
      return;
    }
    const scripts = parsed.settings[event];
    // The job's state is kept until its JobCompleted: only when that call will come.
    const lastCall = event === "job_completed" || parsed.settings.job_completed.length === 0;
    if (!scripts.length) {
      if (lastCall) jobs.close(context);
      yield resultEvent(ResultKind.SUCCESS);
      return;
    }
    let state: ReturnType<HookJobs["open"]>;
    try {
      state = jobs.open(context);
    } catch (err) {
      yield resultEvent(
        ResultKind.SYSTEM_FAILURE,
        0,
        `script-hooks: could not make the job's directory: ${err instanceof Error ? err.message : String(err)}`,
      );
      return;
    }
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    if (ctx.signal.aborted) abort.abort();
    else ctx.signal.addEventListener("abort", onAbort, { once: true });
    let finished!: () => void;
    const entry = { abort, done: new Promise<void>((resolve) => (finished = resolve)) };
    running.add(entry);
    try {
      let failure: LifecycleEventInit | undefined;
      for (const script of scripts) {
        if (abort.signal.aborted) break;
        for await (const e of runHookScript({
          event,
          path: script.path,
          job: context,
          state,
          signal: abort.signal,
          ...(script.timeout_seconds === undefined ? {} : { timeoutSeconds: script.timeout_seconds }),
          ...(completed ? { completed } : {}),
          ...(options.baseEnv ? { baseEnv: options.baseEnv } : {}),
          ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
          ...(options.outputHoldMs === undefined ? {} : { outputHoldMs: options.outputHoldMs }),
        })) {
          if (e.event?.case !== "result") {
            // What a started hook exports, every later hook of the job sees (the core only sends
            // the completed hooks the variables, not the directories).
            if (event === "job_started") recordExport(state.exported, e);
            yield e;
            continue;
          }
          if (e.event.value.kind !== ResultKind.SUCCESS) failure ??= e;
        }
        if (failure && event === "job_started") break;
      }
      yield failure ?? resultEvent(ResultKind.SUCCESS);
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
      running.delete(entry);
      if (lastCall) jobs.close(context);
      finished();
    }
  }

  return {
    info: { name: "script-hooks", version, capabilities: ["cancel"] },
    handlers: {
      jobStarted: (request, ctx) => runScripts("job_started", request.job, ctx),
      jobCompleted: (request, ctx) =>
        runScripts("job_completed", request.job, ctx, {
          outcome: request.outcome,
          exportedEnv: { ...request.exportedEnv },
        }),
    },
    async shutdown() {
      const calls = [...running];
      for (const call of calls) call.abort.abort();
      await Promise.all(calls.map((call) => call.done));
      jobs.closeAll();
    },
  };
}
