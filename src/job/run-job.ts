/**
 * Runs one job through an executor plugin, phase after phase (README, "Architecture"):
 *
 *   prepare (launch, Configure, job_started hooks, Prepare; retried) → run stages → Cleanup
 *   (always, once configured) → job_completed hooks (always)
 *
 * with the job timeout, graceful cancel and hard abort:
 *   cancel (first Ctrl-C, coordinator cancel, SIGTERM): the running stage is stopped; stages that
 *     run on cancel (after_script, cleanup_file_variables) and Cleanup still run.
 *   abort (second Ctrl-C): everything stops now, Cleanup included.
 *
 * What each call's ending means for the job is decided in one place, outcome.ts.
 */
import type { ExecutorClient } from "../../kernel/protocol/clients.ts";
import { runnerShortToken } from "./job-environment.ts";
import { JobRun, type RunJobOptions } from "./job-run.ts";
import { cleanupPhase } from "./phases/cleanup.ts";
import { completedHooksPhase } from "./phases/hooks.ts";
import { preparePhase } from "./phases/prepare.ts";
import { stagesPhase } from "./phases/stages.ts";
import type { JobResult } from "./result.ts";

export type { RunJobOptions } from "./job-run.ts";

/**
 * The job is over: whatever it started and left running (a daemon, a `setsid` child, a started
 * hook's background process) is killed now, before the next job can meet it (docs/security.md).
 */
async function endContainment(run: JobRun): Promise<void> {
  const killed = await run.options.containment.end();
  if (killed > 0) {
    run.log.line(`WARNING: killed ${killed} process(es) the job left running`, "warning");
    run.options.logger.warn({ processes: killed }, "killed processes the job left running");
  }
}

export async function runJob(options: RunJobOptions): Promise<JobResult> {
  const run = new JobRun(options);
  try {
    run.log.line(
      `Running with drover ${options.version} on ${options.runner.name} (${options.executor.title} executor)`,
      "info",
    );
    // GitLab's second header line: which runner and which host (system ID) took the job.
    if (options.runner.token && options.runner.systemId) {
      run.log.line(
        `  on ${options.runner.name} ${runnerShortToken(options.runner)}, system ID: ${options.runner.systemId}`,
        "info",
      );
    }
    // GitLab's header line for the flags that differ from their defaults, and any that did not parse.
    const changed = run.featureFlags.describeChanged();
    if (changed) run.log.line(`  feature flags: ${changed}`, "info");
    for (const problem of run.featureFlags.problems) run.log.line(`WARNING: ${problem}`, "warning");
    const client: ExecutorClient | undefined = await preparePhase(run);
    if (client) await stagesPhase(run, client);
  } catch (err) {
    run.failUnexpectedly(err);
  } finally {
    run.stopTimers();
    if (run.configuredClient) await cleanupPhase(run, run.configuredClient);
    await completedHooksPhase(run);
    await endContainment(run);
    run.dispose();
  }
  return run.result();
}
