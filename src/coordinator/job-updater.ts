/**
 * `PUT /api/v4/jobs/:id`: the job's state (GitLab Runner's `UpdateJob`): `running` while it runs
 * (which also tells drover whether the job was canceled meanwhile), then `success` or `failed` with
 * the failure reason, the exit code and the trace's checksum and size, which GitLab checks against
 * the trace it received.
 */
import type { RunnerConfig } from "../config/model.ts";
import { type CoordinatorHttp, type FailedExchange, failedExchange, JOB_TOKEN_HEADER } from "./http.ts";
import { type JobState, type UpdateJobBody, versionInfo } from "./payload.ts";
import { type RemoteJobState, remoteJobState } from "./remote-state.ts";
import { snippet } from "./request-job.ts";

const UPDATE_TIMEOUT_MS = 60_000;

export interface JobUpdate {
  state: JobState;
  failureReason?: string;
  exitCode?: number;
  output: { checksum: string; bytesize: number };
}

export type UpdateResult =
  /** 200: accepted. */
  | { kind: "accepted"; remote: RemoteJobState }
  /** 202: accepted, not complete yet (GitLab is still checking the trace): ask again after the interval. */
  | { kind: "pending"; remote: RemoteJobState }
  /** 412: GitLab's copy of the trace does not match the checksum: send the whole trace again. */
  | { kind: "trace_invalid"; remote: RemoteJobState }
  /** 404, 403, Job-Status canceled/failed: the job is over or gone; no later update will be taken. */
  | { kind: "aborted"; remote: RemoteJobState }
  /** Down, 5xx, unexpected: try again (after what the coordinator asked for, if it did). */
  | ({ kind: "failed"; remote: RemoteJobState | undefined } & FailedExchange);

export class JobUpdater {
  readonly #http: CoordinatorHttp;
  readonly #runner: RunnerConfig;
  readonly #jobId: number;
  readonly #token: string;

  constructor(options: { http: CoordinatorHttp; runner: RunnerConfig; jobId: number; token: string }) {
    this.#http = options.http;
    this.#runner = options.runner;
    this.#jobId = options.jobId;
    this.#token = options.token;
  }

  async update(update: JobUpdate, signal?: AbortSignal): Promise<UpdateResult> {
    const body: UpdateJobBody = {
      info: versionInfo(this.#runner),
      token: this.#token,
      state: update.state,
      ...(update.failureReason === undefined ? {} : { failure_reason: update.failureReason }),
      checksum: update.output.checksum,
      output: update.output,
      ...(update.exitCode === undefined ? {} : { exit_code: update.exitCode }),
    };
    const answer = await this.#http.exchange("update_job", {
      method: "PUT",
      path: `jobs/${this.#jobId}`,
      json: body,
      // As GitLab Runner: the token in the body (what GitLab reads) and in the JOB-TOKEN header.
      headers: { [JOB_TOKEN_HEADER]: this.#token },
      timeoutMs: UPDATE_TIMEOUT_MS,
      ...(signal === undefined ? {} : { signal }),
    });
    if (!answer.ok) return { kind: "failed", remote: undefined, ...failedExchange(answer) };
    const remote = remoteJobState(answer);
    // A final state taken (200) is taken, whatever Job-Status now says (GitLab answers with the state
    // the runner just reported: `failed` after a failed job).
    if (answer.status === 200 && update.state !== "running") return { kind: "accepted", remote };
    if (remote.aborted || answer.status === 404) return { kind: "aborted", remote };
    switch (answer.status) {
      case 200:
        return { kind: "accepted", remote };
      case 202:
        return { kind: "pending", remote };
      case 412:
        return { kind: "trace_invalid", remote };
      default:
        return {
          kind: "failed",
          remote,
          ...failedExchange(
            answer,
            `the coordinator answered ${answer.status} to a job update${snippet(answer.body)}`,
          ),
        };
    }
  }
}
