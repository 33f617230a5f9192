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
 * The job_completed hooks: always, whatever happened, cut only by the hard abort (they run after a
 * cancel too: docs/hooks.md). They see the job's result; a failure fails a job that had succeeded.
 */
export async function completedHooksPhase(run: JobRun): Promise<void> {
  if (!run.options.lifecycle.length) return;
  const outcome = await runLifecycle("completed", run.options.lifecycle, {
    context: (settingsJson) => run.hookContext(settingsJson),
    log: run.log,
    signal: run.abort,
    effects: run.hookEffects,
    onMask: (value) => run.masks.redactFromDroverLog(value),
    outcome: jobOutcome(run.result()),
  });
  if (!outcome.ok) {
    run.decide(
      { kind: "completed_hooks" },
      { outcome: "system_failure", exitCode: undefined, message: outcome.message },
    );
  }
}
