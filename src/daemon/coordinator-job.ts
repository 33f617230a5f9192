/**
 * One job taken from a coordinator, from the payload to the accepted final state: the job log goes
 * into a trace buffer that JobTrace streams to GitLab while JobService runs the job; the
 * coordinator's cancel requests and the daemon's stop become the job's cancel and abort signals.
 *
 *   Job-Status: canceling        → graceful cancel: after_script and cleanup still run (job_canceled)
 *   Job-Status: canceled/failed  → abort: everything stops now
 *   SIGTERM/SIGINT (daemon)      → graceful cancel as runner_interrupted
 *   forced exit                  → abort; the final state stays on disk for the next drover
 *
 * A payload the job parser rejects fails that job alone, as runner_system_failure, with the reason
 * in its trace.
 */

import { DroverError } from "../../kernel/errors.ts";
import { supportedFailureReason } from "../coordinator/failure-reason.ts";
import type { CoordinatorHttp } from "../coordinator/http.ts";
import type { FinalState } from "../coordinator/job-trace.ts";
import { JobTrace } from "../coordinator/job-trace.ts";
import type { ReceivedJob } from "../coordinator/request-job.ts";
import type { FinalStateJournal } from "../coordinator/unreported-final-state.ts";
import type { JobService } from "../job/job-service.ts";
import type { StopReason } from "../job/outcome.ts";
import { jobFromPayload } from "../job/parse.ts";
import type { JobResult } from "../job/result.ts";
import { parseBool } from "../job/variables.ts";
import { formatDuration, JobLog, memorySink } from "../log/job-log.ts";
import type { Logger } from "../log/logger.ts";
import type { DaemonMetrics } from "../metrics/daemon-metrics.ts";
import { VERSION } from "../version.ts";
import type { PolledRunner } from "./poller.ts";

export interface CoordinatorJobContext {
  received: ReceivedJob;
  runner: PolledRunner;
  http: CoordinatorHttp;
  service: JobService;
  logger: Logger;
  metrics: DaemonMetrics | undefined;
  /** The daemon is stopping (SIGTERM/SIGINT): cancel as runner_interrupted. */
  interrupt: AbortSignal;
  /** Forced exit: abort the job and stop reporting. */
  force: AbortSignal;
  /** Keeps the final state until GitLab acknowledges it (src/daemon/pending-updates.ts). */
  journal: FinalStateJournal | undefined;
}

export async function runCoordinatorJob(ctx: CoordinatorJobContext): Promise<JobResult> {
  const { received, runner } = ctx;
  const logger = ctx.logger.child({ jobId: received.id, runner: runner.name });
  const cancel = new AbortController();
  const abort = new AbortController();
  const onInterrupt = () => cancel.abort("interrupted" satisfies StopReason);
  const onForce = () => {
    cancel.abort("interrupted" satisfies StopReason);
    abort.abort("interrupted" satisfies StopReason);
  };
  ctx.interrupt.addEventListener("abort", onInterrupt, { once: true });
  ctx.force.addEventListener("abort", onForce, { once: true });
  if (ctx.interrupt.aborted) onInterrupt();
  if (ctx.force.aborted) onForce();

  const sink = memorySink();
  const log = new JobLog({
    sink,
    color: true, // GitLab's job page renders ANSI colours
    sectionMarkers: true,
    limitBytes: runner.outputLimitBytes,
    masks: payloadMasks(received),
  });
  const trace = new JobTrace({
    http: ctx.http,
    runner,
    job: received,
    trace: sink,
    debugTrace: payloadDebugMode(received),
    logger,
    onCancel: () => cancel.abort("canceled" satisfies StopReason),
    onAbort: () => {
      cancel.abort("canceled" satisfies StopReason);
      abort.abort("canceled" satisfies StopReason);
    },
    onError: (endpoint) => ctx.metrics?.coordinatorError(runner.name, endpoint),
    ...(ctx.journal === undefined ? {} : { journal: ctx.journal }),
  });
  trace.start();

  let result: JobResult;
  const started = Date.now();
  try {
    const job = jobFromPayload(received.payload, `job ${received.id} from the coordinator`);
    result = await ctx.service.run(job, runner, { log, cancel: cancel.signal, abort: abort.signal });
  } catch (err) {
    // The payload did not parse (or the job service broke): the job fails alone, with the reason.
    const error = DroverError.from(err);
    logger.error({ err: error }, "job failed before it could run");
    log.line(`Running with drover ${VERSION} on ${runner.name}`, "info");
    result = {
      status: "failed",
      reason: "runner_system_failure",
      exitCode: undefined,
      message: error.shortMessage,
      stages: [],
      durationMs: Date.now() - started,
    };
  } finally {
    ctx.interrupt.removeEventListener("abort", onInterrupt);
  }
  summarize(log, result);

  const outcome = await trace.finish(finalState(result, received.payload), ctx.force);
  ctx.force.removeEventListener("abort", onForce);
  ctx.metrics?.jobFinished(runner.name, result);
  const fields = {
    status: result.status,
    ...(result.status === "success" ? {} : { reason: result.reason }),
    durationMs: result.durationMs,
    traceBytes: sink.size,
    report: outcome.kind,
  };
  switch (outcome.kind) {
    case "accepted":
    case "job_over":
      logger.info(fields, "job finished");
      break;
    case "kept":
      logger.error(
        { ...fields, keptIn: outcome.keptIn },
        "job finished; its final state was not acknowledged: it is kept on disk and reported when drover starts again or reloads",
      );
      break;
    case "lost":
      logger.error(
        fields,
        "job finished; its final state was not acknowledged and could not be kept: it is lost",
      );
      break;
  }
  return result;
}

/** The final `PUT /jobs/:id`: GitLab's state, failure reason (one this GitLab knows), exit code. */
export function finalState(result: JobResult, payload: unknown): FinalState {
  if (result.status === "success") return { state: "success" };
  return {
    state: "failed",
    failureReason: supportedFailureReason(result.reason, payload),
    ...(result.status === "failed" && result.exitCode !== undefined && result.exitCode !== 0
      ? { exitCode: result.exitCode }
      : {}),
  };
}

/** The trace's last line, in GitLab Runner's words. */
function summarize(log: JobLog, result: JobResult): void {
  const took = formatDuration(result.durationMs);
  if (result.status === "success") log.line(`Job succeeded in ${took}`, "success");
  else if (result.status === "canceled") log.line(`ERROR: Job failed: canceled (after ${took})`, "error");
  else if (result.reason === "script_failure" && result.exitCode !== undefined)
    log.line(`ERROR: Job failed: exit code ${result.exitCode} (after ${took})`, "error");
  else if (result.reason === "runner_system_failure")
    log.line(`ERROR: Job failed (system failure): ${result.message} (after ${took})`, "error");
  else log.line(`ERROR: Job failed: ${result.message} (${result.reason}, after ${took})`, "error");
  log.flush();
}

/**
 * GitLab's debug mode (Build.IsDebugModeEnabled): CI_DEBUG_TRACE or CI_DEBUG_SERVICES true among
 * the payload's variables (the last definition counts), read from the raw payload so that even a
 * job that fails to parse reports it.
 */
function payloadDebugMode(received: ReceivedJob): boolean {
  const values = new Map<string, unknown>();
  const variables = received.payload.variables;
  if (Array.isArray(variables)) {
    for (const variable of variables) {
      if (typeof variable !== "object" || variable === null) continue;
      const { key, value } = variable as { key?: unknown; value?: unknown };
      if (key === "CI_DEBUG_TRACE" || key === "CI_DEBUG_SERVICES") values.set(key, value);
    }
  }
  return [...values.values()].some((value) => typeof value === "string" && parseBool(value) === true);
}

/**
 * Masked from the first byte of the trace: the payload's masked variables and the job token, even
 * before the job runner adds the full set (and even when the payload turns out to be malformed).
 */
function payloadMasks(received: ReceivedJob): string[] {
  const masks = [received.token];
  const variables = received.payload.variables;
  if (Array.isArray(variables)) {
    for (const variable of variables) {
      if (typeof variable !== "object" || variable === null) continue;
      const { masked, value } = variable as { masked?: unknown; value?: unknown };
      if (masked === true && typeof value === "string" && value !== "") masks.push(value);
    }
  }
  return masks;
}
