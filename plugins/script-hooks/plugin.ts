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
 *
 * @example
 * // plugin mode entry (main.ts)
 * await serveLifecycle(scriptHooksPlugin("1.2.3"));
 */
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
import { parseScriptHooksSettings } from "./settings.ts";

export interface ScriptHooksOptions {
  /** The environment hooks start from; defaults to this process's (drover's, scrubbed). */
  baseEnv?: Record<string, string | undefined>;
  /** SIGTERM → SIGKILL delay for a timed-out or cancelled hook. */
  graceMs?: number;
  /** Where per-run private directories are made; defaults to the system temp dir. */
  tmpDir?: string;
}

/** The plugin: info, the two Lifecycle handlers, and shutdown (stops every running hook). */
export function scriptHooksPlugin(version: string, options: ScriptHooksOptions = {}): LifecyclePlugin {
  /** Calls in flight: shutdown aborts them and waits until their processes are gone. */
  const running = new Set<{ abort: AbortController; done: Promise<void> }>();

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
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    if (ctx.signal.aborted) abort.abort();
    else ctx.signal.addEventListener("abort", onAbort, { once: true });
    let finished!: () => void;
    const entry = { abort, done: new Promise<void>((resolve) => (finished = resolve)) };
    running.add(entry);
    try {
      let failure: LifecycleEventInit | undefined;
      for (const script of parsed.settings[event]) {
        if (abort.signal.aborted) break;
        for await (const e of runHookScript({
          event,
          path: script.path,
          job: context,
          signal: abort.signal,
          ...(script.timeout_seconds === undefined ? {} : { timeoutSeconds: script.timeout_seconds }),
          ...(completed ? { completed } : {}),
          ...(options.baseEnv ? { baseEnv: options.baseEnv } : {}),
          ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
          ...(options.tmpDir === undefined ? {} : { tmpDir: options.tmpDir }),
        })) {
          if (e.event?.case !== "result") {
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
    },
  };
}
