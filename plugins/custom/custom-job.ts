/**
 * What the adapter keeps about one job between calls (Configure creates it, Cleanup forgets it):
 * the runner's settings, the job's temp dir, the variables and `job_env` every driver call's
 * environment is made of, and the driver processes still running.
 *
 * Driver calls of one job run one after another, as in GitLab Runner: a call first waits for the
 * job's previous driver processes to be gone. That matters after a cancel: the core moves on to
 * after_script and cleanup at once, while the cancelled run_exec may still be in its
 * `graceful_kill_timeout`.
 */

import {
  type Child,
  type Image,
  type JobContainment,
  type JobContext,
  jobPayload,
  type OutputEvent,
  type Variable,
} from "@drover/plugin-sdk";
import { callDriver, type DriverName, type DriverOutcome } from "./driver-call.ts";
import { driverEnv } from "./driver-env.ts";
import { createJobDir, type JobDir, removeJobDir } from "./job-dir.ts";
import type { CustomSettings } from "./settings.ts";

export class CustomJob {
  readonly settings: CustomSettings;
  readonly dir: JobDir;
  /** CUSTOM_ENV_* come from these: Configure's list, replaced by Prepare's complete one. */
  variables: readonly Variable[];
  /** config_exec's `job_env`, set unprefixed for every later call. */
  jobEnv: Record<string, string> = {};
  readonly #image: Image | undefined;
  readonly #services: readonly Image[];
  readonly #containment: JobContainment | undefined;
  readonly #running = new Set<Child>();

  /** Creates the temp dir with response.json; throws when that fails. */
  constructor(context: JobContext, settings: CustomSettings) {
    this.settings = settings;
    this.variables = context.variables;
    this.#image = context.image;
    this.#services = context.services;
    this.#containment = context.containment;
    // GitLab's job response as it came: the file variables' values are put back (job_json carries
    // them empty; they travel once, in `variables`).
    this.dir = createJobDir(JSON.stringify(jobPayload(context)));
  }

  /**
   * Runs one driver call (see driver-call.ts), forwarding its output events. The executable and
   * its arguments come from the caller; everything else from the job and the runner's settings.
   */
  async *call(
    name: DriverName,
    command: string,
    args: readonly string[],
    signal: AbortSignal,
    options: { timeoutSeconds?: number; captureStdout?: boolean; jobStatus?: string } = {},
  ): AsyncGenerator<OutputEvent, DriverOutcome> {
    await this.idle();
    return yield* callDriver({
      name,
      command,
      args,
      dir: this.dir,
      env: driverEnv({
        host: process.env,
        dir: this.dir,
        jobEnv: this.jobEnv,
        variables: this.variables,
        image: this.#image,
        services: this.#services,
        ...(options.jobStatus ? { jobStatus: options.jobStatus } : {}),
      }),
      ...(options.timeoutSeconds === undefined
        ? {}
        : { timeout: { seconds: options.timeoutSeconds, key: `${name}_timeout` } }),
      gracefulKillSeconds: this.settings.gracefulKillTimeoutSeconds,
      forceKillSeconds: this.settings.forceKillTimeoutSeconds,
      signal,
      ...(options.captureStdout ? { captureStdout: true } : {}),
      track: this.#running,
      ...(this.#containment ? { job: this.#containment } : {}),
    });
  }

  /** Resolves once no driver process of this job is running (or every one was given up on). */
  async idle(): Promise<void> {
    await Promise.all([...this.#running].map((child) => child.exited));
  }

  /** Stops every driver process of the job (plugin shutdown), waits for them, removes the temp dir. */
  async dispose(): Promise<void> {
    for (const child of this.#running) child.stop("shutdown");
    await this.idle();
    await removeJobDir(this.dir);
  }
}
