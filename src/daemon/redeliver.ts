/**
 * Reports the final job states a previous drover (or this one, before its tries ran out) kept on
 * disk (pending-updates.ts): at start and at each configuration reload, every kept state that is
 * not being reported already gets the bounded report of a job that just ended (final-report.ts):
 * the rest of its trace, then the state. Acknowledged, or the job over on GitLab's side: the file
 * is removed. Not acknowledged: it stays for the next start or reload.
 *
 * A kept state is sent only to a coordinator a runner of the configuration in effect points at
 * (its `url`); one for another coordinator stays on disk, with a warning: drover never sends a job
 * token where its configuration does not say to talk to.
 */
import { reportFinalState } from "../coordinator/final-report.ts";
import { CoordinatorHttp } from "../coordinator/http.ts";
import { JobUpdater } from "../coordinator/job-updater.ts";
import { TraceUploader, traceTail } from "../coordinator/trace-uploader.ts";
import type { UnreportedFinalState } from "../coordinator/unreported-final-state.ts";
import type { Logger } from "../log/logger.ts";
import type { DaemonMetrics } from "../metrics/daemon-metrics.ts";
import { KEPT_FILE_ADVICE, type PendingUpdates } from "./pending-updates.ts";
import type { PolledRunner } from "./poller.ts";

export interface RedeliveryOptions {
  store: PendingUpdates;
  /** The runners of the configuration in effect that talk to a coordinator. */
  runners: () => PolledRunner[];
  logger: Logger;
  metrics: DaemonMetrics | undefined;
}

export class FinalStateRedelivery {
  readonly #options: RedeliveryOptions;
  readonly #stop = new AbortController();
  readonly #running = new Set<Promise<void>>();

  constructor(options: RedeliveryOptions) {
    this.#options = options;
  }

  /** Starts reporting every kept final state not under way already; returns at once. */
  run(): void {
    if (this.#stop.signal.aborted) return;
    const pass = this.#pass().catch((err: unknown) =>
      this.#options.logger.error({ err }, "reporting the kept final job states failed"),
    );
    this.#running.add(pass);
    void pass.finally(() => this.#running.delete(pass));
  }

  /** Stops every report under way (the states stay on disk) and waits for them to end. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all([...this.#running]);
  }

  async #pass(): Promise<void> {
    const { store, logger } = this.#options;
    const entries = await store.takeUnclaimed();
    const reports: Promise<void>[] = [];
    for (const entry of entries) {
      if (!entry.ok) {
        logger.error(
          { file: entry.file, problem: entry.problem, advice: KEPT_FILE_ADVICE },
          "a kept final job state is not trusted: it is not reported",
        );
        continue;
      }
      reports.push(this.#report(entry.file, entry.state));
    }
    await Promise.all(reports);
  }

  async #report(file: string, state: UnreportedFinalState): Promise<void> {
    const { store, metrics } = this.#options;
    const runner = this.#options.runners().find((r) => sameCoordinator(r.url, state.url));
    const logger = this.#options.logger.child({ jobId: state.jobId, file });
    if (runner === undefined) {
      logger.warn(
        { url: state.url },
        "a kept final job state is for a coordinator no runner in config.toml uses: it is kept, not reported",
      );
      store.release(state);
      return;
    }
    logger.info({ runner: runner.name, state: state.update.state }, "reporting a kept final job state");
    const http = new CoordinatorHttp(runner.url, metrics?.observer(runner.name));
    const outcome = await reportFinalState({
      // A kept trace does not know whether the job ran in debug mode: GitLab's default.
      uploader: new TraceUploader({
        http,
        jobId: state.jobId,
        token: state.jobToken,
        trace: traceTail(state.trace.start, state.trace.bytes),
        debugTrace: false,
      }),
      updater: new JobUpdater({ http, runner, jobId: state.jobId, token: state.jobToken }),
      update: state.update,
      retryLimit: runner.finalUpdateRetryLimit,
      logger,
      onError: (endpoint) => metrics?.coordinatorError(runner.name, endpoint),
      signal: this.#stop.signal,
    });
    switch (outcome) {
      case "accepted":
      case "job_over":
        await store.forget(state);
        logger.info({ report: outcome }, "kept final job state reported");
        return;
      case "not_acknowledged":
      case "interrupted":
        store.release(state);
        logger.warn(
          { report: outcome },
          "kept final job state not acknowledged: it stays on disk for the next start or reload",
        );
        return;
    }
  }
}

/** The same GitLab: URLs equal but for a trailing slash (a runner's `url` may have one). */
function sameCoordinator(a: string, b: string): boolean {
  return a.replace(/\/+$/, "") === b.replace(/\/+$/, "");
}
