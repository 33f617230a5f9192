/**
 * What the script-hooks plugin keeps for a job between its JobStarted and JobCompleted calls
 * (docs/hooks.md, "A job's hooks"): the same plugin process runs both, as GitHub's runner runs both
 * hooks of a job, so what GitHub keeps for the whole job is kept here.
 *
 *  - RUNNER_TEMP: one directory for the whole job, the started and the completed hooks alike
 *    (GitHub's `_temp`, emptied when the job ends), so that a completed hook finds what a started
 *    hook left there, and a started hook's background process can keep working in it;
 *  - what the started hooks exported: GITHUB_ENV variables and GITHUB_PATH directories, which every
 *    later hook of the job sees, as every later stage does. The core sends the completed hooks the
 *    exported variables (JobCompletedRequest.exported_env) but not the directories: those are
 *    taken from here.
 *
 * A job's state lives in one private directory (0700, named after this process so that a killed
 * plugin's is removed at the next start: kernel/process/owned-temp-dirs.ts), `temp/` in it being
 * RUNNER_TEMP and `run-<n>/` the files of one hook run. It is removed after the job's JobCompleted
 * call; after its JobStarted call already when no completed hook is configured (the core then never
 * calls JobCompleted on this plugin: src/plugin/resolve.ts); and, for every job, at shutdown.
 *
 * @example
 * const jobs = new HookJobs(tmpdir());
 * const state = jobs.open(request.job);   // JobStarted: made; JobCompleted: found again
 * jobs.close(request.job);                // after JobCompleted
 */
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type JobContext, ownedTempDir } from "@drover/plugin-sdk";

/** What the started hooks of a job exported, in the form later hooks get it. */
export interface StartedExports {
  env: Record<string, string>;
  /** Directories to put in front of PATH, newest first (as the core keeps them for the stages). */
  pathPrepend: string[];
}

export interface HookJobState {
  /** The private directory (0700) that holds everything below. */
  readonly dir: string;
  /** RUNNER_TEMP: `<dir>/temp`, for the whole job. */
  readonly temp: string;
  readonly exported: StartedExports;
  /** A fresh directory for one hook run's files, `<dir>/run-<n>` (0700). */
  runDir(): string;
}

function newState(tmpDir: string): HookJobState {
  const dir = ownedTempDir("drover-hook-", tmpDir);
  chmodSync(dir, 0o700);
  const temp = join(dir, "temp");
  mkdirSync(temp, { mode: 0o700 });
  let runs = 0;
  return {
    dir,
    temp,
    exported: { env: {}, pathPrepend: [] },
    runDir() {
      const run = join(dir, `run-${++runs}`);
      mkdirSync(run, { mode: 0o700 });
      return run;
    },
  };
}

/**
 * Removes a job's directory. A background process of the job may still be writing into RUNNER_TEMP
 * (it is stopped when the core ends the job, a moment later): retried, never thrown.
 */
function removeState(state: HookJobState): void {
  try {
    rmSync(state.dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 10 });
  } catch {
    // still busy: the stale-dir sweep at drover's next start removes it
  }
}

/** The jobs this plugin process is running hooks for, by job. */
export class HookJobs {
  readonly #jobs = new Map<string, HookJobState>();

  constructor(private readonly tmpDir: string) {}

  /**
   * Two jobs are the same job when their id and their containment are: a job id alone can come back
   * (the core reuses a finished job's key, a coordinator may send a job again), a containment is new
   * for every job.
   */
  static key(job: JobContext): string {
    return `${job.jobId}\u0000${job.containment?.trackingId ?? ""}`;
  }

  /** The job's state, made at its first hook run. Throws when its directory cannot be made. */
  open(job: JobContext): HookJobState {
    const key = HookJobs.key(job);
    let state = this.#jobs.get(key);
    if (!state) {
      state = newState(this.tmpDir);
      this.#jobs.set(key, state);
    }
    return state;
  }

  /** The job is over for this plugin: its directory goes, RUNNER_TEMP included. */
  close(job: JobContext): void {
    const key = HookJobs.key(job);
    const state = this.#jobs.get(key);
    if (!state) return;
    this.#jobs.delete(key);
    removeState(state);
  }

  /** Shutdown: every job's directory goes. */
  closeAll(): void {
    for (const state of this.#jobs.values()) removeState(state);
    this.#jobs.clear();
  }
}
