/**
 * What a coordinator's answer to a trace patch or a job update says about the job, in its headers
 * (GitLab Runner's network/remote_job_state_response.go and trace_patch_response.go):
 *
 *   Job-Status: canceling          the user canceled: stop the script, run after_script and cleanup
 *   Job-Status: canceled | failed  the job is over on GitLab's side: abort it
 *   403 Forbidden                  the job token is no longer valid (job over): abort it too
 *   X-GitLab-Trace-Update-Interval seconds until the next trace patch (GitLab slows busy runners)
 *   Range: 0-<size>                (with 416) how many bytes of the trace GitLab holds
 */
import type { Answer } from "./http.ts";

/** GitLab Runner's `DefaultUpdateInterval`: between trace patches, and the final update's waits. */
export const DEFAULT_UPDATE_INTERVAL_MS = 3_000;

/** GitLab Runner's `MaxUpdateInterval`: a bogus header never makes drover go quiet for longer. */
export const MAX_UPDATE_INTERVAL_MS = 15 * 60_000;

export interface RemoteJobState {
  /** The `Job-Status` header, "" when absent. */
  status: string;
  /** The job is over on the coordinator's side: abort it. */
  aborted: boolean;
  /** The coordinator asks for a graceful cancel. */
  canceling: boolean;
  /** The next update interval the coordinator asks for; undefined when absent or not a positive integer. */
  updateIntervalMs: number | undefined;
}

export function remoteJobState(answer: Answer): RemoteJobState {
  const status = (answer.headers.get("Job-Status") ?? "").trim();
  return {
    status,
    aborted: status === "canceled" || status === "failed" || answer.status === 403,
    canceling: status === "canceling",
    updateIntervalMs: updateInterval(answer.headers.get("X-GitLab-Trace-Update-Interval")),
  };
}

/** Whole seconds, as GitLab sends them (it parses with Atoi: anything else is ignored). */
function updateInterval(raw: string | null): number | undefined {
  if (raw === null || !/^\s*\d+\s*$/.test(raw)) return undefined;
  const seconds = Number(raw);
  if (seconds <= 0) return undefined;
  return Math.min(seconds * 1000, MAX_UPDATE_INTERVAL_MS);
}

/**
 * The trace offset a 416 answer tells us to resume from: the end of `Range: 0-<end>`, which is the
 * number of bytes GitLab holds. Undefined when the header is missing or malformed.
 */
export function remoteTraceOffset(answer: Answer): number | undefined {
  const match = /^\s*(\d+)-(\d+)\s*$/.exec(answer.headers.get("Range") ?? "");
  return match ? Number(match[2]) : undefined;
}
