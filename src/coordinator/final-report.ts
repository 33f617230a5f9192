/**
 * The end of a job's conversation with the coordinator, as GitLab Runner bounds it
 * (network/trace.go `finishWithFinalUpdate` and `finalUpdate`): send the rest of the trace, then
 * PUT the final state, until the coordinator takes it (200) or says the job is over (403, 404,
 * Job-Status canceled/failed), in at most `job_status_final_update_retry_limit` tries (default 10).
 *
 *   a try fails        the trace patch or the update failed (down, 5xx, unexpected answer): the
 *                      next try comes after 1 s, doubling (GitLab Runner's retry backoff), or after
 *                      what RateLimit-ResetTime / Retry-After asked for
 *   202                accepted, not complete yet (GitLab is still checking the trace): asked again
 *                      after the update interval, within the same try (GitLab at work, not failing)
 *   412                GitLab's copy of the trace does not match: the whole trace again, same try
 *   update interval    3 s on entry (GitLab Runner goes back to its default for the final update),
 *                      then whatever X-GitLab-Trace-Update-Interval says (at most 15 min)
 *
 * Used for a job that just ended (job-trace.ts) and for a final state a previous drover kept on
 * disk (src/daemon/redeliver.ts).
 */
import type { Logger } from "../log/logger.ts";
import { Backoff, FINAL_UPDATE_BACKOFF, sleep } from "./backoff.ts";
import type { Endpoint, FailedExchange } from "./http.ts";
import type { JobUpdater } from "./job-updater.ts";
import { DEFAULT_UPDATE_INTERVAL_MS, type RemoteJobState } from "./remote-state.ts";
import type { TraceUploader } from "./trace-uploader.ts";
import type { FinalUpdate } from "./unreported-final-state.ts";

export interface FinalReport {
  uploader: TraceUploader;
  updater: JobUpdater;
  update: FinalUpdate;
  /** Tries before giving up (at least 1): the runner's `job_status_final_update_retry_limit`. */
  retryLimit: number;
  logger: Logger;
  /** Every answer's headers (a job trace watches them for the update interval). */
  onRemote?: (remote: RemoteJobState) => void;
  /** Every failed exchange (metrics). */
  onError?: (endpoint: Endpoint, problem: string) => void;
  /** Stops the report at once (a forced exit, or a stop while reporting a kept state). */
  signal?: AbortSignal;
  /** For tests: the backoff's randomness. */
  random?: () => number;
}

/**
 *   accepted           the coordinator took the final state
 *   job_over           the coordinator says the job is over: nothing more will be taken
 *   not_acknowledged   every try failed
 *   interrupted        `signal` stopped it
 */
export type ReportOutcome = "accepted" | "job_over" | "not_acknowledged" | "interrupted";

type TryOutcome =
  | { kind: "accepted" | "job_over" | "interrupted" }
  | ({ kind: "failed"; endpoint: Endpoint } & FailedExchange);

export async function reportFinalState(report: FinalReport): Promise<ReportOutcome> {
  const { logger, signal } = report;
  const backoff = new Backoff({
    ...FINAL_UPDATE_BACKOFF,
    ...(report.random ? { random: report.random } : {}),
  });
  const interval = { ms: DEFAULT_UPDATE_INTERVAL_MS };
  const retryLimit = Math.max(1, report.retryLimit);
  for (let tries = 1; ; tries++) {
    const outcome = await oneTry(report, interval);
    if (outcome.kind !== "failed") return outcome.kind;
    // A request cut by the signal is not a failure of the coordinator's.
    if (signal?.aborted) return "interrupted";
    report.onError?.(outcome.endpoint, outcome.problem);
    const fields = {
      endpoint: outcome.endpoint,
      problem: outcome.problem,
      ...(outcome.requestId ? { requestId: outcome.requestId } : {}),
      tries,
      retryLimit,
    };
    if (tries >= retryLimit) {
      logger.error(fields, "reporting the job's final state failed; no tries left");
      return "not_acknowledged";
    }
    const pause = backoff.next(outcome.retryAfter?.ms);
    logger.warn(
      { ...fields, retryInMs: pause, ...(outcome.retryAfter ? { askedBy: outcome.retryAfter.header } : {}) },
      "reporting the job's final state failed; will retry",
    );
    if (!(await sleep(pause, signal))) return "interrupted";
  }
}

/** One try: the rest of the trace, then the update; 202 and 412 are waited out within it. */
async function oneTry(report: FinalReport, interval: { ms: number }): Promise<TryOutcome> {
  const { uploader, updater, logger, signal } = report;
  const note = (remote: RemoteJobState | undefined) => {
    if (!remote) return;
    if (remote.updateIntervalMs !== undefined) interval.ms = remote.updateIntervalMs;
    report.onRemote?.(remote);
  };
  for (;;) {
    const sent = await sendRest(report, note);
    if (sent !== undefined) return sent;
    if (signal?.aborted) return { kind: "interrupted" };
    const result = await updater.update(report.update, signal);
    note(result.remote);
    switch (result.kind) {
      case "accepted":
        return { kind: "accepted" };
      case "aborted":
        logger.warn({ jobStatus: result.remote.status }, "the coordinator says the job is already over");
        return { kind: "job_over" };
      case "pending":
        logger.debug({ retryInMs: interval.ms }, "final state accepted, not complete yet: asking again");
        break;
      case "trace_invalid":
        if (!uploader.rewind())
          return {
            kind: "failed",
            endpoint: "update_job",
            problem:
              "the coordinator's copy of the trace does not match, and drover no longer has the start of it",
            requestId: "",
            retryAfter: undefined,
          };
        logger.warn("the coordinator's copy of the trace does not match: sending it again");
        break;
      case "failed":
        return { ...result, endpoint: "update_job" };
    }
    if (!(await sleep(interval.ms, signal))) return { kind: "interrupted" };
  }
}

/**
 * The whole trace acknowledged: undefined, go on with the update. Also undefined when the job is
 * over or gone (the update will say so) or the rest of a kept trace is lost (the state is still
 * worth reporting).
 */
async function sendRest(
  report: FinalReport,
  note: (remote: RemoteJobState | undefined) => void,
): Promise<TryOutcome | undefined> {
  const { uploader, logger, signal } = report;
  while (uploader.hasUnsent) {
    if (signal?.aborted) return { kind: "interrupted" };
    const result = await uploader.patch(signal);
    note(result.remote);
    switch (result.kind) {
      case "sent":
        continue;
      case "range_mismatch":
        logger.warn(
          { offset: uploader.sentOffset },
          "trace range mismatch: resuming from the coordinator's offset",
        );
        continue;
      case "lost":
        logger.warn(
          { coordinatorHas: result.remoteOffset, keptFrom: uploader.sentOffset },
          "the coordinator holds less of the trace than drover kept: the end of the trace is lost; reporting the state",
        );
        return undefined;
      case "aborted":
      case "not_found":
        return undefined;
      case "failed":
        return { ...result, endpoint: "patch_trace" };
    }
  }
  return undefined;
}
