/**
 * A job's final state that the coordinator has not acknowledged yet, and the journal that keeps it
 * until it has. GitLab Runner gives up on a final update after its tries and the state is lost;
 * drover keeps it on disk first (src/daemon/pending-updates.ts), so that a drover restarted while
 * GitLab was down, or after the tries ran out, still reports how the job ended (docs/daemon.md,
 * "When the coordinator misbehaves").
 */
import type { JobUpdate } from "./job-updater.ts";

/** The final `PUT /jobs/:id`: an end state with the trace's checksum and size. */
export type FinalUpdate = JobUpdate & { state: "success" | "failed" };

export interface UnreportedFinalState {
  /** The runner's `url`: the coordinator to report to. */
  url: string;
  jobId: number;
  /** Authenticates the report; valid until GitLab considers the job over. */
  jobToken: string;
  update: FinalUpdate;
  /** The trace from the first byte GitLab had not acknowledged to its end (masked, as sent). */
  trace: { start: number; bytes: Uint8Array };
}

/**
 * Where final states are kept until the coordinator acknowledges them. `keep` before the first
 * try (a drover killed during the report loses nothing), `forget` once acknowledged or once the
 * coordinator says the job is over, `release` when this process stops trying and leaves it for a
 * later one.
 */
export interface FinalStateJournal {
  /** Resolves with where it is kept (for the log), or undefined when it could not be kept. */
  keep(state: UnreportedFinalState): Promise<string | undefined>;
  forget(state: UnreportedFinalState): Promise<void>;
  release(state: UnreportedFinalState): void;
}
