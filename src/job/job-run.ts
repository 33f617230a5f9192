/**
 * One job while it runs: what the phases (phases/*.ts) share. It holds the job's signals (the stop:
 * cancel, drover's shutdown or the job timeout; and the hard abort), its status (changed only
 * through `decide`, which asks the outcome table), the record of every call, where the job runs and
 * its variables, and its masked values. Phases do the calls; this keeps the books.
 */
import { create } from "@bufbuild/protobuf";
import { DroverError } from "../../kernel/errors.ts";
import type { JobConfig } from "../../kernel/gen/drover/plugin/v1/executor_pb.ts";
import { type JobContext, JobContextSchema } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import type { ExecutorClient } from "../../kernel/protocol/clients.ts";
import { payloadJsonWithoutFileValues } from "../../kernel/protocol/job-payload.ts";
import type { RunnerConfig } from "../config/model.ts";
import type { JobLog } from "../log/job-log.ts";
import type { Logger } from "../log/logger.ts";
import { defaultTokenPrefixes } from "../log/pattern-masker.ts";
import type { JobContainment } from "../process/containment.ts";
import type { ExecutorIdentity } from "./executor-identity.ts";
import type { FeatureFlags } from "./feature-flags.ts";
import { hookContext } from "./hook-context.ts";
import {
  derivedVariables,
  type JobPlacement,
  jobFeatureFlags,
  jobVariables,
  placeJob,
  UNPLACED,
} from "./job-environment.ts";
import { JobMasks } from "./job-masks.ts";
import type { LifecycleParticipant, StartedEffects } from "./lifecycle.ts";
import type { ArtifactsTarget, Job, JobVariable, StageGroup } from "./model.ts";
import {
  type JobStatus,
  jobResult,
  judge,
  NOT_FAILED,
  type Phase,
  type StageRun,
  type StopReason,
  settledJobStatus,
  statusAfter,
  type Verdict,
} from "./outcome.ts";
import type { JobResult, StageRecord } from "./result.ts";
import type { CiJobStatus } from "./variables.ts";

export interface RunJobOptions {
  job: Job;
  /** Unique among the jobs of this drover process: the job id plugins see. */
  jobKey: string;
  runner: RunnerConfig;
  executor: ExecutorIdentity;
  /** Resolves the executor client; may launch the plugin (its failure is a system failure of the job). */
  connect: () => Promise<ExecutorClient>;
  log: JobLog;
  logger: Logger;
  /** Graceful cancel; its `reason` is a StopReason. */
  cancel: AbortSignal;
  /** Hard abort: stop everything, cleanup included. */
  abort: AbortSignal;
  slots: { concurrentId: number; concurrentProjectId: number };
  version: string;
  /** Lifecycle plugins (job hooks), in order; empty when no hook is configured. */
  lifecycle: readonly LifecycleParticipant[];
  /** GitLab's pause between prepare attempts (3 s); tests make it short. */
  prepareRetryDelayMs?: number;
  /** Whether get_sources may fetch from a local repository (allow_local_repositories). */
  allowLocalRepositories?: boolean;
  /** Where the job's processes belong; everything in it is killed when the job ends. */
  containment: JobContainment;
  /** `[hooks] pass_variables`: project variables hooks and lifecycle plugins may see. */
  hookPassVariables?: readonly string[];
  /** Where artifacts go and come from (none: the artifact stages say so). */
  artifacts?: ArtifactsTarget;
  /** How stage scripts call drover's helper commands (ScriptContext.helper). */
  helper?: string;
}

export class JobRun {
  readonly options: RunJobOptions;
  readonly job: Job;
  readonly log: JobLog;
  readonly masks: JobMasks;
  readonly #started = Date.now();
  readonly #stop = new AbortController();
  readonly #stages: StageRecord[] = [];
  #status: JobStatus = NOT_FAILED;
  #placement: JobPlacement = UNPLACED;
  #hostname: string | undefined;
  #variables: JobVariable[] = [];
  #flags!: FeatureFlags;
  readonly #shownStderrTails = new Set<string>();
  /** From after_script on, CI_JOB_STATUS says how the job went instead of "running". */
  #statusSettled = false;
  /** The CI_JOB_STATUS the variables carry now. */
  #exportedStatus: CiJobStatus | undefined;
  /** The status when the stages after after_script began (outcome.ts shouldRun). */
  #postStatus: JobStatus | undefined;
  /** What the job_started hooks exported, applied to every later stage. */
  readonly hookEffects: StartedEffects = { env: {}, pathPrepend: [] };
  /** Set once Configure was called: from then on, Cleanup is owed. */
  configuredClient: ExecutorClient | undefined;
  readonly #stopTimers: () => void;

  constructor(options: RunJobOptions) {
    this.options = options;
    this.job = options.job;
    this.log = options.log;
    this.masks = new JobMasks(options.log);
    const timer = setTimeout(
      () => this.#stop.abort("timeout" satisfies StopReason),
      options.job.timeoutSeconds * 1000,
    );
    const onCancel = () => this.#stop.abort(options.cancel.reason ?? "canceled");
    const onAbort = () => this.#stop.abort(options.abort.reason ?? "canceled");
    options.cancel.addEventListener("abort", onCancel, { once: true });
    options.abort.addEventListener("abort", onAbort, { once: true });
    if (options.cancel.aborted) onCancel();
    if (options.abort.aborted) onAbort();
    let listening = true;
    this.#stopTimers = () => {
      if (!listening) return;
      listening = false;
      clearTimeout(timer);
      options.cancel.removeEventListener("abort", onCancel);
      options.abort.removeEventListener("abort", onAbort);
    };
    // Masked from the first byte: Configure's context already carries the variables.
    this.refreshVariables();
    // The tokens the job's dependencies' artifacts are downloaded with.
    for (const dependency of options.job.dependencies) {
      if (dependency.token) {
        this.log.addMask(dependency.token);
        this.masks.redactFromDroverLog(dependency.token);
      }
    }
    // Tokens by their prefix (glpat-...), as GitLab's job log masks them.
    this.log.maskTokenPrefixes([
      ...defaultTokenPrefixes(this.#flags.on("FF_MASK_ALL_DEFAULT_TOKENS")),
      ...options.job.features.tokenMaskPrefixes,
    ]);
  }

  /** Aborts when the job stops (cancel, drover's shutdown, the job timeout); the reason says which. */
  get stop(): AbortSignal {
    return this.#stop.signal;
  }

  /** The hard abort: everything stops now, cleanup included. */
  get abort(): AbortSignal {
    return this.options.abort;
  }

  get stopReason(): StopReason | undefined {
    return this.#stop.signal.aborted ? ((this.#stop.signal.reason ?? "canceled") as StopReason) : undefined;
  }

  get status(): JobStatus {
    return this.#status;
  }

  /** Where the job's processes belong (src/process/containment.ts). */
  get containment(): { trackingId: string; cgroup: string } {
    return { trackingId: this.options.containment.trackingId, cgroup: this.options.containment.cgroup };
  }

  get placement(): JobPlacement {
    return this.#placement;
  }

  get variables(): readonly JobVariable[] {
    return this.#variables;
  }

  /**
   * The outcome table's verdict on a call made in `phase`, applied to the job's status; a warning
   * goes to the job log.
   */
  decide(phase: Phase, run: StageRun): Verdict {
    const verdict = judge(phase, run, this.stopReason);
    if (verdict.kind === "warn") this.log.line(verdict.message, "warning");
    const group = phase.kind === "stage" ? phase.stage.group : undefined;
    this.#status = statusAfter(this.#status, verdict, phase.kind, this.job.timeoutSeconds, group);
    return verdict;
  }

  /**
   * If the job's stop signal fired, the status says so (a no-op when it already does, or when the
   * job failed first): for a stop that came between two calls and cut none of them short. `group`:
   * the stage group the job was about to enter, which decides what still runs.
   */
  noteStop(phase: Phase["kind"], group?: StageGroup): void {
    const reason = this.stopReason;
    if (reason === undefined) return;
    this.#status = statusAfter(this.#status, { kind: "stop", reason }, phase, this.job.timeoutSeconds, group);
  }

  /**
   * The job's outcome is known (after_script is next, or the stages are over): CI_JOB_STATUS says
   * it from now on, in the stages' scripts and to the executor (RunRequest, CleanupRequest). Called
   * before each later stage too: a cancel during after_script shows in the next stage's
   * variables as in its request.
   */
  settleJobStatus(): void {
    this.#statusSettled = true;
    const status = this.ciJobStatus;
    if (status === this.#exportedStatus) return;
    this.refreshVariables();
  }

  /** The post group begins: its stages follow the job's outcome as it is now. */
  enterPostStages(): void {
    this.#postStatus ??= this.#status;
  }

  /** The status the post stages decide on (undefined before they began). */
  get postStatus(): JobStatus | undefined {
    return this.#postStatus;
  }

  /** CI_JOB_STATUS as the job's next call should see it. */
  get ciJobStatus(): CiJobStatus {
    return this.#statusSettled ? settledJobStatus(this.#status) : "running";
  }

  /** The job's feature flags (feature-flags.ts), as resolved with its variables. */
  get featureFlags(): FeatureFlags {
    return this.#flags;
  }

  /** Something broke that no call reported (a bug, a throw): a system failure. */
  failUnexpectedly(err: unknown): void {
    const message = DroverError.from(err).shortMessage;
    this.#status = statusAfter(
      this.#status,
      { kind: "fail", reason: "runner_system_failure", exitCode: undefined, message },
      "stage",
      this.job.timeoutSeconds,
    );
  }

  record(name: StageRecord["name"], run: StageRun, durationMs: number): void {
    this.#stages.push({
      name,
      outcome: run.outcome,
      exitCode: run.exitCode,
      durationMs,
      message: run.message,
    });
  }

  /**
   * An error in the job log: its one line, and what the plugin printed last on stderr, if anything
   * (once per job: a dead plugin fails every later call with the same tail).
   */
  logError(prefix: string, err: unknown): void {
    const error = DroverError.from(err);
    this.log.line(`${prefix}: ${error.shortMessage}`, "error");
    const tail = error.details.stderrTail;
    if (typeof tail === "string" && tail !== "" && !this.#shownStderrTails.has(tail)) {
      this.#shownStderrTails.add(tail);
      this.log.line(`Last lines on the plugin's stderr:\n${tail}`, "error");
    }
  }

  /**
   * Takes the executor's answer to Configure: where the job runs, and the variables that depend on
   * it. Returns the configuration problem when there is nowhere to run it.
   */
  place(config: JobConfig | undefined): string | undefined {
    const placed = placeJob({
      job: this.job,
      runner: this.options.runner,
      executor: this.options.executor,
      config,
      concurrentProjectId: this.options.slots.concurrentProjectId,
    });
    if ("problem" in placed) return placed.problem;
    this.#placement = placed;
    this.#hostname = config?.hostname;
    this.refreshVariables();
    return undefined;
  }

  /** Recomputes the job's variables (after Configure, after the job_started hooks) and masks them. */
  refreshVariables(): void {
    const input = this.#variablesInput();
    this.#exportedStatus = input.jobStatus;
    this.#variables = jobVariables(input);
    this.#flags = jobFeatureFlags(input);
    this.masks.maskVariables(this.#variables);
  }

  #variablesInput() {
    return {
      job: this.job,
      runner: this.options.runner,
      placement: this.#placement,
      slots: this.options.slots,
      hostname: this.#hostname,
      jobStatus: this.ciJobStatus,
      hookEffects: this.hookEffects,
    };
  }

  /** The job as its executor sees it: everything, the payload and every variable included. */
  context(): JobContext {
    const { job, runner } = this.options;
    return create(JobContextSchema, {
      jobId: this.options.jobKey,
      jobName: job.name,
      // File variables' values travel once, in `variables` (kernel/protocol/job-payload.ts).
      jobJson: new TextEncoder().encode(payloadJsonWithoutFileValues(job.payload)),
      variables: this.#variables,
      runnerName: runner.name,
      runnerSettingsJson: JSON.stringify(runner.executor === "shell" ? {} : runner.settings),
      image: job.image,
      services: job.services,
      containment: this.containment,
    });
  }

  /**
   * The job as hooks and lifecycle plugins see it: an allow-list, no secret (hook-context.ts).
   * `settingsJson`: the participant's own settings.
   */
  hookContext(settingsJson: string): JobContext {
    return hookContext({
      job: this.job,
      jobKey: this.options.jobKey,
      runnerName: this.options.runner.name,
      predefined: derivedVariables(this.#variablesInput()),
      variables: this.#variables,
      passVariables: this.options.hookPassVariables ?? [],
      settingsJson,
      containment: this.containment,
    });
  }

  result(): JobResult {
    return jobResult(this.#status, this.#stages, Date.now() - this.#started);
  }

  /**
   * The job's own time is up: no more job timeout, and cancel and abort no longer stop it (Cleanup
   * and the job_completed hooks have their own bounds).
   */
  stopTimers(): void {
    this.#stopTimers();
  }

  /** The job is over: drover's log stops redacting its values. */
  dispose(): void {
    this.#stopTimers();
    this.masks.release();
  }
}
