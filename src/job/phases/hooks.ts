/**
 * The job hooks as phases: the job_started hooks ("Set up runner", during prepare) and the
 * job_completed hooks ("Complete runner", after cleanup, whatever happened). lifecycle.ts talks to
 * the lifecycle plugins; this decides when, with which signal, and what their outcome does to the
 * job.
 */
import type { JobRun } from "../job-run.ts";
import { runLifecycle } from "../lifecycle.ts";
import type { StageRun } from "../outcome.ts";
import { jobOutcome } from "../stage-run.ts";

/**
 * The job_started hooks, cut by the job's stop. What they export (GITHUB_ENV, GITHUB_PATH, masks)
 * applies to every later stage. A stop that cut them short is that, not a hook failure.
 */
export async function startedHooksPhase(run: JobRun): Promise<StageRun> {
  const signal = run.stop;
  const hooks = await runLifecycle("started", run.options.lifecycle, {
    context: (settingsJson) => run.hookContext(settingsJson),
    log: run.log,
    signal,
    effects: run.hookEffects,
    onMask: (value) => run.masks.redactFromDroverLog(value),
  });
  if (signal.aborted) {
    return {
      outcome: run.stopReason === "timeout" ? "timed_out" : "canceled",
      exitCode: undefined,
      message: hooks.ok ? undefined : hooks.message,
    };
  }
  if (!hooks.ok) return { outcome: "system_failure", exitCode: undefined, message: hooks.message };
  run.refreshVariables();
  return { outcome: "success", exitCode: undefined, message: undefined };
}

/**
 * The job_completed hooks: always, whatever happened (they run after a cancel too: docs/hooks.md).
 * They stop on the hard abort, and on a stop that arrives while they run (drover's first SIGTERM
 * or Ctrl-C, a cancel): a hook that hangs must not hold drover's shutdown. They see the job's
 * result; a failure fails a job that had succeeded.
 */
export async function completedHooksPhase(run: JobRun): Promise<void> {
  if (!run.options.lifecycle.length) return;
  const controller = new AbortController();
  const stop = () => controller.abort("canceled");
  const watched = [run.options.abort, ...(run.options.cancel.aborted ? [] : [run.options.cancel])];
  for (const signal of watched) signal.addEventListener("abort", stop, { once: true });
  if (run.options.abort.aborted) stop();
  try {
    const outcome = await runLifecycle("completed", run.options.lifecycle, {
      context: (settingsJson) => run.hookContext(settingsJson),
      log: run.log,
      signal: controller.signal,
      effects: run.hookEffects,
      onMask: (value) => run.masks.redactFromDroverLog(value),
      outcome: jobOutcome(run.result()),
    });
    if (controller.signal.aborted) {
      run.log.line("WARNING: the job_completed hooks were stopped: drover was asked to stop", "warning");
      return;
    }
    if (!outcome.ok) {
      run.decide(
        { kind: "completed_hooks" },
        { outcome: "system_failure", exitCode: undefined, message: outcome.message },
      );
    }
  } finally {
    for (const signal of watched) signal.removeEventListener("abort", stop);
  }
}
