/**
 * One job's conversation with the coordinator while it runs and after it ends (GitLab Runner's
 * `clientJobTrace`):
 *
 *   start   PUT state=running, then every update interval (3 s, or what GitLab's
 *           X-GitLab-Trace-Update-Interval asks for) PATCH the new part of the trace; when nothing
 *           was sent for 30 s, PUT state=running again so GitLab knows the job is alive and can say
 *           whether it was canceled. Job-Status canceling → `onCancel`; canceled/failed/403 → `onAbort`.
 *   finish  send the rest of the trace, then PUT the final state with the trace's checksum and size,
 *           again and again (exponential backoff with jitter while the coordinator is down or
 *           answering 5xx) until the coordinator takes it or says the job is over: a job's final
 *           state is never dropped while the process lives. Only `signal` (forced exit) stops it.
 */
import type { RunnerConfig } from "../config/model.ts";
import type { Logger } from "../log/logger.ts";
import type { MemorySink } from "../log/sinks.ts";
import { Backoff, sleep } from "./backoff.ts";
import type { CoordinatorHttp, Endpoint } from "./http.ts";
import { type JobUpdate, JobUpdater } from "./job-updater.ts";
import type { RemoteJobState } from "./remote-state.ts";
import type { ReceivedJob } from "./request-job.ts";
import { TraceUploader } from "./trace-uploader.ts";

/** GitLab Runner's `DefaultUpdateInterval` and `MinTraceForceSendInterval`. */
export const DEFAULT_UPDATE_INTERVAL_MS = 3_000;
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
}

export type FinalState = Omit<JobUpdate, "output">;

/** How the final update ended: taken, or the coordinator said the job was already over. */
export type FinalOutcome = "accepted" | "job_over" | "given_up";

export class JobTrace {
  readonly #options: JobTraceOptions;
  readonly #uploader: TraceUploader;
  readonly #updater: JobUpdater;
  readonly #logger: Logger;
  #intervalMs = DEFAULT_UPDATE_INTERVAL_MS;
  #lastContact = Date.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<void> = Promise.resolve();
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

  /** Stops the incremental loop, sends the rest of the trace and the final state until taken. */
  async finish(final: FinalState, signal?: AbortSignal): Promise<FinalOutcome> {
    this.#finishing = true;
    clearTimeout(this.#timer);
    await this.#inFlight;
    // GitLab Runner goes back to the default interval for the final update; GitLab may raise it.
    this.#intervalMs = DEFAULT_UPDATE_INTERVAL_MS;
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
    for (;;) {
      if (!(await this.#sendAll(signal))) return "given_up";
      const output = { checksum: this.#uploader.checksum(), bytesize: this.#uploader.size };
      const result = await this.#updater.update({ ...final, output }, signal);
      this.#note(result.remote);
      let pause: number;
      switch (result.kind) {
        case "accepted":
          return "accepted";
        case "aborted":
          this.#logger.warn(
            { jobStatus: result.remote.status },
            "the coordinator says the job is already over",
          );
          return "job_over";
        case "pending":
          pause = this.#intervalMs;
          break;
        case "trace_invalid":
          this.#logger.warn("the coordinator's copy of the trace does not match: sending it again");
          this.#uploader.rewind();
          pause = this.#intervalMs;
          break;
        case "failed":
          pause = backoff.next();
          this.#error("update_job", result.problem, "final job update failed; will retry", pause);
          break;
      }
      if (!(await sleep(pause, signal))) return "given_up";
    }
  }

  /** The whole trace acknowledged (or the job over/gone, after which nothing more is taken). */
  async #sendAll(signal?: AbortSignal): Promise<boolean> {
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
    while (this.#uploader.hasUnsent) {
      const result = await this.#uploader.patch(signal);
      this.#note(result.remote);
      switch (result.kind) {
        case "sent":
          backoff.reset();
          continue;
        case "aborted":
        case "not_found":
          return true;
        case "range_mismatch":
          this.#logger.warn(
            { offset: this.#uploader.sentOffset },
            "trace range mismatch: resuming from the coordinator's offset",
          );
          continue;
        case "failed": {
          const pause = backoff.next();
          this.#error("patch_trace", result.problem, "sending the trace failed; will retry", pause);
          if (!(await sleep(pause, signal))) return false;
        }
      }
    }
    return true;
  }

  #schedule(): void {
    if (this.#finishing || this.#over) return;
    this.#timer = setTimeout(() => {
      this.#inFlight = this.#tick().then(() => this.#schedule());
    }, this.#intervalMs);
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
      case "failed":
        this.#error("patch_trace", result.problem, "sending the trace failed; will retry", this.#intervalMs);
        return;
      default:
        return;
    }
  }

  /** PUT state=running with the trace's checksum and size so far. */
  async #touch(): Promise<void> {
    const output = { checksum: this.#uploader.checksum(), bytesize: this.#uploader.size };
    const result = await this.#updater.update({ state: "running", output });
    this.#note(result.remote);
    if (result.kind === "failed")
      this.#error("update_job", result.problem, "job update failed", this.#intervalMs);
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

  #error(endpoint: Endpoint, problem: string, message: string, retryInMs: number): void {
    this.#logger.warn({ endpoint, problem, retryInMs }, message);
    this.#options.onError?.(endpoint, problem);
  }
}
