/**
 * One job's conversation with the coordinator while it runs and after it ends (GitLab Runner's
 * `clientJobTrace`):
 *
 *   start   PUT state=running, then every update interval (3 s, or what GitLab's
 *           X-GitLab-Trace-Update-Interval asks for) PATCH the new part of the trace; when nothing
 *           was sent for 30 s, PUT state=running again so GitLab knows the job is alive and can say
 *           whether it was canceled. Job-Status canceling → `onCancel`; canceled/failed/403 → `onAbort`.
 *           A failed patch is tried again at the next interval, or later if GitLab asked for it
 *           (Retry-After, RateLimit-ResetTime).
 *   finish  keep the final state in the journal (on disk), then send the rest of the trace and PUT
 *           the final state with the trace's checksum and size, in the bounded tries GitLab Runner
 *           makes (final-report.ts). Acknowledged, or the job over: the journal forgets it. Not
 *           acknowledged when the tries run out or `signal` (forced exit) stops it: it stays in the
 *           journal, and a later drover reports it (src/daemon/redeliver.ts).
 */
import type { RunnerConfig } from "../config/model.ts";
import type { Logger } from "../log/logger.ts";
import type { MemorySink } from "../log/sinks.ts";
import { reportFinalState } from "./final-report.ts";
import type { CoordinatorHttp, Endpoint, FailedExchange } from "./http.ts";
import { JobUpdater } from "./job-updater.ts";
import { DEFAULT_UPDATE_INTERVAL_MS, type RemoteJobState } from "./remote-state.ts";
import type { ReceivedJob } from "./request-job.ts";
import { TraceUploader } from "./trace-uploader.ts";
import type { FinalStateJournal, FinalUpdate, UnreportedFinalState } from "./unreported-final-state.ts";

export { DEFAULT_UPDATE_INTERVAL_MS };
/** GitLab Runner's `MinTraceForceSendInterval`. */
export const FORCE_SEND_INTERVAL_MS = 30_000;

export interface JobTraceOptions {
  http: CoordinatorHttp;
  runner: RunnerConfig;
  job: ReceivedJob;
  /** The job log's sink: what is in it is what GitLab gets. */
  trace: MemorySink;
  /** The job runs in debug mode (CI_DEBUG_TRACE): GitLab's `debug_trace` on every trace patch. */
  debugTrace?: boolean;
  logger: Logger;
  /** Job-Status: canceling. Called once. */
  onCancel: () => void;
  /** The job is over on the coordinator's side (Job-Status canceled/failed, 403). Called once. */
  onAbort: () => void;
  /** Every failed exchange (metrics). */
  onError?: (endpoint: Endpoint, problem: string) => void;
  /** Keeps the final state until acknowledged; without one, a final state not taken is lost. */
  journal?: FinalStateJournal;
}

/** What `finish` reports: the end state, failure reason and exit code (the output is the trace's). */
export type FinalState = Omit<FinalUpdate, "output">;

/**
 * How the final report ended:
 *   accepted   the coordinator took it
 *   job_over   the coordinator said the job was already over
 *   kept       not acknowledged (tries ran out, or a forced exit): kept in the journal at `keptIn`
 *   lost       not acknowledged and not kept (no journal, or it could not write)
 */
export type FinalOutcome = { kind: "accepted" | "job_over" | "lost" } | { kind: "kept"; keptIn: string };

export class JobTrace {
  readonly #options: JobTraceOptions;
  readonly #uploader: TraceUploader;
  readonly #updater: JobUpdater;
  readonly #logger: Logger;
  #intervalMs = DEFAULT_UPDATE_INTERVAL_MS;
  #lastContact = Date.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  /** No patch before this time (ms since the epoch): what GitLab's Retry-After asked for. */
  #pauseUntil = 0;
  #finishing = false;
  #canceled = false;
  #over = false;

  constructor(options: JobTraceOptions) {
    this.#options = options;
    this.#logger = options.logger;
    const { http, job } = options;
    this.#uploader = new TraceUploader({
      http,
      jobId: job.id,
      token: job.token,
      trace: options.trace,
      debugTrace: options.debugTrace ?? false,
    });
    this.#updater = new JobUpdater({ http, runner: options.runner, jobId: job.id, token: job.token });
  }

  /** Bytes the coordinator acknowledged so far (tests, logs). */
  get sentBytes(): number {
    return this.#uploader.sentOffset;
  }

  /** PUT state=running, then the incremental trace loop. */
  start(): void {
    this.#inFlight = this.#touch().then(() => this.#schedule());
  }

  /**
   * Stops the incremental loop; keeps the final state in the journal, then reports it (the rest of
   * the trace, then the state) in bounded tries. `signal` (forced exit) stops the report at once.
   */
  async finish(final: FinalState, signal?: AbortSignal): Promise<FinalOutcome> {
    this.#finishing = true;
    clearTimeout(this.#timer);
    await this.#inFlight;
    const { journal, http, job, runner } = this.#options;
    const state: UnreportedFinalState = {
      url: http.url,
      jobId: job.id,
      jobToken: job.token,
      update: { ...final, output: { checksum: this.#uploader.checksum(), bytesize: this.#uploader.size } },
      // A copy: the tail as it is now (the report below may send part of it; a later drover
      // resumes from what GitLab says it holds).
      trace: {
        start: this.#uploader.sentOffset,
        bytes: this.#options.trace.bytes(this.#uploader.sentOffset).slice(),
      },
    };
    const keptIn = await journal?.keep(state);
    const outcome = await reportFinalState({
      uploader: this.#uploader,
      updater: this.#updater,
      update: state.update,
      retryLimit: runner.finalUpdateRetryLimit,
      logger: this.#logger,
      onRemote: (remote) => this.#note(remote),
      ...(this.#options.onError ? { onError: this.#options.onError } : {}),
      ...(signal === undefined ? {} : { signal }),
    });
    if (outcome === "accepted" || outcome === "job_over") {
      await journal?.forget(state);
      return { kind: outcome };
    }
    journal?.release(state);
    return keptIn === undefined ? { kind: "lost" } : { kind: "kept", keptIn };
  }

  #schedule(): void {
    if (this.#finishing || this.#over) return;
    const delay = Math.max(this.#intervalMs, this.#pauseUntil - Date.now());
    this.#timer = setTimeout(() => {
      this.#inFlight = this.#tick().then(() => this.#schedule());
    }, delay);
  }

  /** One incremental update: a patch if there is something new, a keep-alive PUT if quiet too long. */
  async #tick(): Promise<void> {
    const result = await this.#uploader.patch();
    this.#note(result.remote);
    switch (result.kind) {
      case "sent":
        if (result.remote) this.#lastContact = Date.now();
        if (Date.now() - this.#lastContact > FORCE_SEND_INTERVAL_MS) await this.#touch();
        return;
      case "range_mismatch":
        this.#logger.warn(
          { offset: this.#uploader.sentOffset },
          "trace range mismatch: resuming from the coordinator's offset",
        );
        return;
      case "failed": {
        // GitLab asked for a longer pause than the update interval: the next tick waits for it.
        const retryInMs = Math.max(this.#intervalMs, result.retryAfter?.ms ?? 0);
        this.#pauseUntil = Date.now() + retryInMs;
        this.#error("patch_trace", result, "sending the trace failed; will retry", retryInMs);
        return;
      }
      default:
        return;
    }
  }

  /** PUT state=running with the trace's checksum and size so far. */
  async #touch(): Promise<void> {
    const output = { checksum: this.#uploader.checksum(), bytesize: this.#uploader.size };
    const result = await this.#updater.update({ state: "running", output });
    this.#note(result.remote);
    if (result.kind === "failed") this.#error("update_job", result, "job update failed", this.#intervalMs);
    else this.#lastContact = Date.now();
  }

  /** What the coordinator's headers say: a new interval, a cancel, the end of the job. */
  #note(remote: RemoteJobState | undefined): void {
    if (!remote) return;
    if (remote.updateIntervalMs !== undefined) this.#intervalMs = remote.updateIntervalMs;
    // Once the job has ended, a cancel or abort has nothing left to stop.
    if (this.#finishing) return;
    if (remote.canceling && !this.#canceled && !this.#over) {
      this.#canceled = true;
      this.#logger.info("the coordinator asks to cancel the job");
      this.#options.onCancel();
    }
    if (remote.aborted && !this.#over) {
      this.#over = true;
      this.#logger.info(
        { jobStatus: remote.status },
        "the job is over on the coordinator's side: aborting it",
      );
      this.#options.onAbort();
    }
  }

  #error(endpoint: Endpoint, failure: FailedExchange, message: string, retryInMs: number): void {
    const { problem, requestId, retryAfter } = failure;
    this.#logger.warn(
      { endpoint, problem, requestId, retryInMs, ...(retryAfter ? { askedBy: retryAfter.header } : {}) },
      message,
    );
    this.#options.onError?.(endpoint, problem);
  }
}
