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
 *
 * A final state kept on disk for a later drover (pending-updates) keeps only the part GitLab had
 * not acknowledged: a TraceSource with a `start`. If GitLab then says it holds less than that, the
 * bytes in between are gone and the patch says so (`lost`).
 */
import { crc32 } from "node:zlib";
import { type CoordinatorHttp, type FailedExchange, failedExchange, JOB_TOKEN_HEADER } from "./http.ts";
import { type RemoteJobState, remoteJobState, remoteTraceOffset } from "./remote-state.ts";
import { snippet } from "./request-job.ts";

/** GitLab Runner's `DefaultTracePatchLimit`. */
export const TRACE_PATCH_LIMIT = 1024 * 1024;
const PATCH_TIMEOUT_MS = 60_000;

/** The trace bytes drover holds: a job log's memory sink (all of it), or a kept tail. */
export interface TraceSource {
  /** The trace's whole size, bytes before `start` included. */
  readonly size: number;
  /** The bytes from `from` (at least `start`) on: a view, valid until the next write. */
  bytes(from: number): Uint8Array;
  /** The first byte held; absent: 0, the whole trace (a MemorySink). */
  readonly start?: number;
}

/** A kept tail: `bytes` are the trace from offset `start` to its end. */
export function traceTail(start: number, bytes: Uint8Array): TraceSource {
  return {
    start,
    size: start + bytes.length,
    bytes: (from) => bytes.subarray(Math.max(0, from - start)),
  };
}

export type PatchResult =
  /** Accepted (202), or nothing to send. */
  | { kind: "sent"; remote: RemoteJobState | undefined }
  /** 416: resumed from the coordinator's offset; send again. */
  | { kind: "range_mismatch"; remote: RemoteJobState }
  /** 404: the job is gone; nothing more will be accepted. */
  | { kind: "not_found"; remote: RemoteJobState }
  /** The job is over on the coordinator's side (Job-Status canceled/failed, 403). */
  | { kind: "aborted"; remote: RemoteJobState }
  /** 416 asking for bytes before the kept tail's start: they are gone; the trace cannot be completed. */
  | { kind: "lost"; remote: RemoteJobState; remoteOffset: number }
  /** Down, 5xx, unexpected answer: try again later (after what the coordinator asked for, if it did). */
  | ({ kind: "failed"; remote: RemoteJobState | undefined } & FailedExchange);

export class TraceUploader {
  readonly #http: CoordinatorHttp;
  readonly #jobId: number;
  readonly #token: string;
  readonly #trace: TraceSource;
  readonly #start: number;
  #sent: number;
  #crc = 0;
  #crcUpTo = 0;

  readonly #debugTrace: boolean;

  /** `debugTrace`: the job runs with CI_DEBUG_TRACE (or CI_DEBUG_SERVICES), sent with every patch. */
  constructor(options: {
    http: CoordinatorHttp;
    jobId: number;
    token: string;
    trace: TraceSource;
    debugTrace: boolean;
  }) {
    this.#debugTrace = options.debugTrace;
    this.#http = options.http;
    this.#jobId = options.jobId;
    this.#token = options.token;
    this.#trace = options.trace;
    this.#start = options.trace.start ?? 0;
    this.#sent = this.#start;
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

  /**
   * `crc32:<8 hex digits>` of the whole trace (GitLab Runner's trace checksum), computed
   * incrementally. Only for a whole trace: a kept tail keeps the checksum it was sent with.
   */
  checksum(): string {
    if (this.#start !== 0) throw new Error("the checksum of a kept trace tail cannot be computed");
    if (this.#crcUpTo < this.#trace.size) {
      this.#crc = crc32(this.#trace.bytes(this.#crcUpTo), this.#crc);
      this.#crcUpTo = this.#trace.size;
    }
    return `crc32:${this.#crc.toString(16).padStart(8, "0")}`;
  }

  /**
   * The coordinator lost its copy (412 on the final update): send everything again. False when
   * drover no longer holds the start (a kept tail): it cannot.
   */
  rewind(): boolean {
    if (this.#start !== 0) return false;
    this.#sent = 0;
    return true;
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
      headers: { "Content-Range": `${start}-${end - 1}`, [JOB_TOKEN_HEADER]: this.#token },
      timeoutMs: PATCH_TIMEOUT_MS,
      ...(signal === undefined ? {} : { signal }),
    });
    if (!answer.ok) return { kind: "failed", remote: undefined, ...failedExchange(answer) };
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
            remote,
            ...failedExchange(answer, "the coordinator answered 416 without a usable Range header"),
          };
        if (offset < this.#start) return { kind: "lost", remote, remoteOffset: offset };
        // GitLab cannot hold more than was sent; if it says so, resending from our end is all we can do.
        this.#sent = Math.min(offset, this.#trace.size);
        return { kind: "range_mismatch", remote };
      }
      default:
        return {
          kind: "failed",
          remote,
          ...failedExchange(
            answer,
            `the coordinator answered ${answer.status} to a trace patch${snippet(answer.body)}`,
          ),
        };
    }
  }
}
