/**
 * `PATCH /api/v4/jobs/:id/trace`: the job log, sent incrementally (GitLab Runner's `PatchTrace` and
 * the sending half of `clientJobTrace`). Each patch carries the bytes from the last acknowledged
 * offset on, at most 1 MiB, with `Content-Range: <start>-<end inclusive>`. A 416 says GitLab holds
 * a different number of bytes than drover thinks: its `Range: 0-<size>` is where to resume.
 *
 * The trace buffer is the job log's memory sink: everything the job printed, masked, already cut at
 * the runner's `output_limit` (4 MiB by default), so it is bounded per job. It keeps the whole log
 * rather than only the unsent tail because GitLab may ask for any part again (a 416 with an earlier
 * offset; a 412 on the final update, which resends everything).
 */
import { crc32 } from "node:zlib";
import type { MemorySink } from "../log/sinks.ts";
import type { CoordinatorHttp } from "./http.ts";
import { type RemoteJobState, remoteJobState, remoteTraceOffset } from "./remote-state.ts";
import { snippet } from "./request-job.ts";

/** GitLab Runner's `DefaultTracePatchLimit`. */
export const TRACE_PATCH_LIMIT = 1024 * 1024;
const PATCH_TIMEOUT_MS = 60_000;

export type PatchResult =
  /** Accepted (202), or nothing to send. */
  | { kind: "sent"; remote: RemoteJobState | undefined }
  /** 416: resumed from the coordinator's offset; send again. */
  | { kind: "range_mismatch"; remote: RemoteJobState }
  /** 404: the job is gone; nothing more will be accepted. */
  | { kind: "not_found"; remote: RemoteJobState }
  /** The job is over on the coordinator's side (Job-Status canceled/failed, 403). */
  | { kind: "aborted"; remote: RemoteJobState }
  /** Down, 5xx, unexpected answer: try again later. */
  | { kind: "failed"; problem: string; remote: RemoteJobState | undefined };

export class TraceUploader {
  readonly #http: CoordinatorHttp;
  readonly #jobId: number;
  readonly #token: string;
  readonly #trace: MemorySink;
  #sent = 0;
  #crc = 0;
  #crcUpTo = 0;

  readonly #debugTrace: boolean;

  /** `debugTrace`: the job runs with CI_DEBUG_TRACE (or CI_DEBUG_SERVICES), sent with every patch. */
  constructor(options: {
    http: CoordinatorHttp;
    jobId: number;
    token: string;
    trace: MemorySink;
    debugTrace: boolean;
  }) {
    this.#debugTrace = options.debugTrace;
    this.#http = options.http;
    this.#jobId = options.jobId;
    this.#token = options.token;
    this.#trace = options.trace;
  }

  /** Bytes in the trace so far. */
  get size(): number {
    return this.#trace.size;
  }

  /** Bytes the coordinator acknowledged. */
  get sentOffset(): number {
    return this.#sent;
  }

  get hasUnsent(): boolean {
    return this.#sent !== this.#trace.size;
  }

  /** `crc32:<8 hex digits>` of the whole trace (GitLab Runner's trace checksum), computed incrementally. */
  checksum(): string {
    if (this.#crcUpTo < this.#trace.size) {
      this.#crc = crc32(this.#trace.bytes(this.#crcUpTo), this.#crc);
      this.#crcUpTo = this.#trace.size;
    }
    return `crc32:${this.#crc.toString(16).padStart(8, "0")}`;
  }

  /** The coordinator lost its copy (412 on the final update): send everything again. */
  rewind(): void {
    this.#sent = 0;
  }

  /** Sends the next unsent piece of the trace (at most TRACE_PATCH_LIMIT bytes). */
  async patch(signal?: AbortSignal): Promise<PatchResult> {
    const start = this.#sent;
    // A copy: the sink's view is only valid until the next write, and the job keeps writing.
    const content = this.#trace.bytes(start).slice(0, TRACE_PATCH_LIMIT);
    if (content.length === 0) return { kind: "sent", remote: undefined };
    const end = start + content.length;
    const answer = await this.#http.exchange("patch_trace", {
      method: "PATCH",
      path: `jobs/${this.#jobId}/trace?debug_trace=${this.#debugTrace}`,
      text: content,
      headers: { "Content-Range": `${start}-${end - 1}`, "JOB-TOKEN": this.#token },
      timeoutMs: PATCH_TIMEOUT_MS,
      ...(signal === undefined ? {} : { signal }),
    });
    if (!answer.ok) return { kind: "failed", problem: answer.problem, remote: undefined };
    const remote = remoteJobState(answer);
    if (remote.aborted) return { kind: "aborted", remote };
    switch (answer.status) {
      case 202:
        this.#sent = end;
        return { kind: "sent", remote };
      case 404:
        return { kind: "not_found", remote };
      case 416: {
        const offset = remoteTraceOffset(answer);
        if (offset === undefined)
          return {
            kind: "failed",
            problem: "the coordinator answered 416 without a usable Range header",
            remote,
          };
        // GitLab cannot hold more than was sent; if it says so, resending from our end is all we can do.
        this.#sent = Math.min(offset, this.#trace.size);
        return { kind: "range_mismatch", remote };
      }
      default:
        return {
          kind: "failed",
          problem: `the coordinator answered ${answer.status} to a trace patch${snippet(answer.body)}`,
          remote,
        };
    }
  }
}
