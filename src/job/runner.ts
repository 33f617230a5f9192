/**
 * Runs one job through an executor plugin (SPEC §6): configure → prepare (retried) → run stages →
 * cleanup, with the job timeout, graceful cancel and hard abort. This is where a job's stages are
 * decided and where a stage's outcome becomes the job's result.
 *
 *   cancel (first Ctrl-C, coordinator cancel, SIGTERM): the running stage is stopped; stages that
 *     run on cancel (after_script, cleanup_file_variables) and cleanup still run.
 *   abort (second Ctrl-C): everything stops now, cleanup included.
 */
import { hostname } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { DroverError } from "../../kernel/errors.ts";
import type { JobConfig } from "../../kernel/gen/drover/plugin/v1/executor_pb.ts";
import {
  type JobContext,
  JobContextSchema,
  OutputStream,
  ResultKind,
  type StageResult,
} from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import type { RunnerConfig } from "../config/model.ts";
import type { JobLog } from "../log/job-log.ts";
import type { Logger } from "../log/logger.ts";
import { addLogRedaction, type LogRedaction } from "../log/redaction.ts";
import type { ExecutorClient } from "../plugin/host.ts";
import { type ExecutorIdentity, executorDefaults } from "./executor-identity.ts";
import { type LifecycleParticipant, runLifecycle, type StartedEffects } from "./lifecycle.ts";
import type { Job, JobVariable, PlannedStage } from "./model.ts";
import { planStages } from "./plan.ts";
import { projectDirFor } from "./project.ts";
import type { JobResult, StageRecord } from "./result.ts";
import { clearWorktreeScript, renderStageScript } from "./script/index.ts";
import { fromResult, jobOutcome, type StageOutcome, type StageRun, stageTitle } from "./stage-run.ts";
import { allVariables, maskedValues } from "./variables.ts";

/** Why a job stops early; `cancel.reason` / `abort.reason` carry one of these. */
export type StopReason = "canceled" | "interrupted" | "timeout";

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
}

/** prepare (configure + prepare) attempts and the pause between them (GitLab's values). */
const PREPARE_ATTEMPTS = 3;
const PREPARE_RETRY_DELAY_MS = 3_000;
/** Cleanup gets its own bound, not cut by cancel: a serious driver needs it to release resources. */
const CLEANUP_TIMEOUT_MS = 3_600_000;

type FailedReason = Extract<JobResult, { status: "failed" }>["reason"];

export async function runJob(options: RunJobOptions): Promise<JobResult> {
  return new JobRun(options).run();
}

class JobRun {
  readonly #o: RunJobOptions;
  readonly #started = Date.now();
  readonly #stages: StageRecord[] = [];
  readonly #stop = new AbortController();
  #client: ExecutorClient | undefined;
  #status: "success" | "failed" | "canceled" = "success";
  #failure: Extract<JobResult, { status: "failed" }> | undefined;
  #variables: JobVariable[] = [];
  #projectDir = "";
  #buildsDir = "";
  #cacheDir: string | undefined;
  #configured = false;
  /** What the job_started hooks exported, applied to every later stage. */
  readonly #hookEffects: StartedEffects = { env: {}, pathPrepend: [] };
  #startedHooksRan = false;
  /** Set when a job_started hook failed: the job fails, prepare is not retried. */
  #hookFailure: string | undefined;
  /** The job's masked values kept out of drover's own log while it runs (see #allVariables). */
  readonly #logRedactions = new Map<string, LogRedaction>();

  constructor(options: RunJobOptions) {
    this.#o = options;
  }

  async run(): Promise<JobResult> {
    const { job, log, runner } = this.#o;
    const timer = setTimeout(
      () => this.#stop.abort("timeout" satisfies StopReason),
      job.timeoutSeconds * 1000,
    );
    const onCancel = () => this.#stop.abort(this.#o.cancel.reason ?? "canceled");
    const onAbort = () => this.#stop.abort(this.#o.abort.reason ?? "canceled");
    this.#o.cancel.addEventListener("abort", onCancel, { once: true });
    this.#o.abort.addEventListener("abort", onAbort, { once: true });
    if (this.#o.cancel.aborted) onCancel();
    try {
      log.line(
        `Running with drover ${this.#o.version} on ${runner.name} (${this.#o.executor.title} executor)`,
        "info",
      );
      if (await this.#prepare()) await this.#runStages();
    } catch (err) {
      this.#fail("runner_system_failure", undefined, DroverError.from(err).shortMessage);
    } finally {
      clearTimeout(timer);
      if (this.#client && this.#configured) await this.#cleanup();
      await this.#completedHooks();
      for (const redaction of this.#logRedactions.values()) redaction.remove();
      this.#o.cancel.removeEventListener("abort", onCancel);
      this.#o.abort.removeEventListener("abort", onAbort);
    }
    return this.#result();
  }

  // ---- prepare --------------------------------------------------------------------------------

  /** configure + prepare, retried like GitLab (3 attempts, 3 s apart) on system failures. */
  async #prepare(): Promise<boolean> {
    const { log } = this.#o;
    log.sectionStart("prepare_executor", `Preparing the "${this.#o.executor.name}" executor`);
    const started = Date.now();
    try {
      this.#client = await this.#o.connect();
    } catch (err) {
      const message = DroverError.from(err).shortMessage;
      this.#logError("ERROR: Preparation failed", err);
      log.sectionEnd("prepare_executor", { ok: false, durationMs: Date.now() - started, note: message });
      this.#record("prepare", "system_failure", undefined, Date.now() - started, message);
      this.#fail(
        DroverError.from(err).code === "config_invalid"
          ? "runner_configuration_error"
          : "runner_system_failure",
        undefined,
        message,
      );
      return false;
    }
    for (let attempt = 1; attempt <= PREPARE_ATTEMPTS; attempt++) {
      // faults suite ("a plugin that dies between two jobs"): a retry asks for the client again, so
      // that a plugin that died (before this job noticed, or during the failed attempt) is restarted.
      if (attempt > 1) this.#client = await this.#o.connect();
      const outcome = await this.#prepareOnce();
      if (outcome.outcome === "success") {
        log.sectionEnd("prepare_executor", { ok: true, durationMs: Date.now() - started });
        return true;
      }
      const message = outcome.message ?? "prepare failed";
      if (outcome.outcome === "canceled" || outcome.outcome === "timed_out") {
        log.sectionEnd("prepare_executor", { ok: false, durationMs: Date.now() - started, note: message });
        this.#stopped();
        return false;
      }
      if (this.#hookFailure) {
        log.sectionEnd("prepare_executor", { ok: false, durationMs: Date.now() - started, note: message });
        this.#fail("runner_system_failure", undefined, `job_started hook failed: ${this.#hookFailure}`);
        return false;
      }
      log.line(`ERROR: Preparation failed: ${message}`, "error");
      const retryable = outcome.outcome === "system_failure" && attempt < PREPARE_ATTEMPTS;
      if (!retryable) {
        log.sectionEnd("prepare_executor", { ok: false, durationMs: Date.now() - started, note: message });
        if (outcome.outcome === "configuration_error")
          this.#fail("runner_configuration_error", undefined, message);
        else if (outcome.outcome === "build_failure")
          this.#fail("script_failure", outcome.result?.exitCode, message);
        else this.#fail("runner_system_failure", undefined, message);
        return false;
      }
      log.line(`Will be retried in ${PREPARE_RETRY_DELAY_MS / 1000}s ...`, "info");
      await this.#cleanup();
      if (!(await sleep(PREPARE_RETRY_DELAY_MS, this.#stop.signal))) {
        this.#stopped();
        return false;
      }
    }
    return false;
  }

  async #prepareOnce(): Promise<StageRun> {
    const client = this.#client!;
    const signal = this.#stop.signal;
    const started = Date.now();
    // Configure: where and how the job runs; its output (a driver's stderr) goes to the job log.
    let config: JobConfig | undefined;
    const configured = await this.#consume("configure", started, async (onOutput) => {
      for await (const event of client.configure(
        { job: this.#context(this.#provisionalVariables()) },
        { signal },
      )) {
        if (event.event.case === "output") onOutput(event.event.value.data, event.event.value.stream);
        else if (event.event.case === "result") {
          config = event.event.value.config;
          return event.event.value.status;
        }
      }
      return undefined;
    });
    this.#configured = true;
    if (configured.outcome !== "success") return configured;
    const problem = this.#applyConfig(config);
    if (problem) {
      this.#record("configure", "configuration_error", undefined, Date.now() - started, problem);
      return { outcome: "configuration_error", result: undefined, message: problem };
    }
    // The job_started hooks run once, between the config stage and prepare (SPEC §6), with the
    // directories the executor chose.
    if (!this.#startedHooksRan) {
      this.#startedHooksRan = true;
      const hooks = await runLifecycle("started", this.#o.lifecycle, {
        context: (settingsJson) => this.#context(this.#variables, settingsJson),
        log: this.#o.log,
        signal,
        effects: this.#hookEffects,
        onMask: (value) => this.#redact(value),
      });
      // A cancel, interrupt or job timeout that cut the hooks short is that, not a hook failure.
      if (signal.aborted) {
        const timedOut = signal.reason === "timeout";
        return {
          outcome: timedOut ? "timed_out" : "canceled",
          result: undefined,
          message: hooks.ok ? undefined : hooks.message,
        };
      }
      if (!hooks.ok) {
        this.#hookFailure = hooks.message;
        return { outcome: "system_failure", result: undefined, message: hooks.message };
      }
      this.#variables = this.#allVariables(config?.hostname);
    }
    const prepareStarted = Date.now();
    return this.#consume("prepare", prepareStarted, async (onOutput) => {
      let last: StageResult | undefined;
      for await (const event of client.prepare({ job: this.#context(this.#variables) }, { signal })) {
        if (event.event.case === "output") onOutput(event.event.value.data, event.event.value.stream);
        else if (event.event.case === "result") last = event.event.value;
      }
      return last;
    });
  }

  /** Takes the executor's answer to Configure: directories, the variables that depend on them. */
  #applyConfig(config: JobConfig | undefined): string | undefined {
    const { job, runner, log } = this.#o;
    const defaults = executorDefaults(this.#o.executor);
    const buildsDir = config?.buildsDir || runner.buildsDir || defaults.buildsDir;
    if (!buildsDir) return "the builds_dir is not configured";
    this.#buildsDir = buildsDir;
    this.#cacheDir = config?.cacheDir || runner.cacheDir || defaults.cacheDir;
    const shared = config?.buildsDirIsShared ?? defaults.buildsDirIsShared;
    const shortToken = runnerShortToken(runner);
    // `drover exec -- cmd` runs in the current directory only with the shell executor (SPEC §3):
    // another executor's host or sandbox has its own file system, so the job goes under its builds dir.
    const placed = job.adHoc && this.#o.executor.kind !== "shell" ? withoutAdHoc(job) : job;
    this.#projectDir = projectDirFor(placed, buildsDir, {
      isShared: shared,
      runnerShortToken: shortToken,
      concurrentProjectId: this.#o.slots.concurrentProjectId,
    });
    if (config?.driver?.name) {
      log.line(
        `Using ${this.#o.executor.title} executor with driver ${[config.driver.name, config.driver.version].filter(Boolean).join(" ")}...`,
        "info",
      );
    }
    this.#variables = this.#allVariables(config?.hostname);
    return undefined;
  }

  // ---- stages ---------------------------------------------------------------------------------

  async #runStages(): Promise<void> {
    for (const stage of planStages(this.#o.job)) {
      if (this.#o.abort.aborted) break;
      if (!this.#shouldRun(stage)) continue;
      const run = await this.#runStage(stage);
      this.#apply(stage, run);
    }
  }

  #shouldRun(stage: PlannedStage): boolean {
    if (this.#stop.signal.aborted) return stage.runsOnCancel;
    if (stage.when === "always") return true;
    return stage.when === (this.#status === "success" ? "on_success" : "on_failure");
  }

  async #runStage(stage: PlannedStage): Promise<StageRun> {
    let run: StageRun = { outcome: "skipped", result: undefined, message: undefined };
    for (let attempt = 1; attempt <= stage.attempts; attempt++) {
      if (attempt > 1)
        this.#o.log.line(`Retrying ${stage.name} (attempt ${attempt} of ${stage.attempts})...`, "warning");
      // GitLab Runner (common/build.go attemptGetSourcesStage): before the second get_sources attempt,
      // and only then, a clear_worktree stage; when it fails, that attempt is skipped.
      if (stage.name === "get_sources" && attempt === 2 && !(await this.#clearWorktree())) continue;
      run = await this.#runStageOnce(stage);
      if (run.outcome !== "build_failure" && run.outcome !== "system_failure") break;
    }
    return run;
  }

  async #runStageOnce(stage: PlannedStage): Promise<StageRun> {
    // A stage that runs after a cancel is cut only by the hard abort (and its own timeout).
    const parent = stage.runsOnCancel && this.#stop.signal.aborted ? this.#o.abort : this.#stop.signal;
    const controller = new AbortController();
    const onParent = () => controller.abort(parent.reason);
    parent.addEventListener("abort", onParent, { once: true });
    if (parent.aborted) controller.abort(parent.reason);
    const timer =
      stage.timeoutSeconds === undefined
        ? undefined
        : setTimeout(() => controller.abort("timeout" satisfies StopReason), stage.timeoutSeconds * 1000);
    try {
      let script: string;
      try {
        script = renderStageScript(stage, this.#o.job, {
          projectDir: this.#projectDir,
          buildsDir: this.#buildsDir,
          cacheDir: this.#cacheDir,
          variables: this.#variables,
          tmpDir: this.#tmpDir(),
          jobStatus: this.#status,
          pathPrepend: this.#hookEffects.pathPrepend,
        });
      } catch (err) {
        // A script that cannot be written (e.g. a builds_dir of "/" that get_sources refuses to
        // empty) fails this stage; the stages that always run still do.
        this.#logError(`ERROR: ${stage.name} failed`, err);
        const message = DroverError.from(err).shortMessage;
        this.#record(stage.name, "system_failure", undefined, 0, message);
        return { outcome: "system_failure", result: undefined, message };
      }
      return await this.#runScript(stage.name, script, controller.signal, stageTitle(stage));
    } finally {
      clearTimeout(timer);
      parent.removeEventListener("abort", onParent);
    }
  }

  /**
   * Before get_sources is tried again: GitLab's clear_worktree stage (script/clear-worktree.ts), run
   * like a stage (custom executor drivers get it as run_exec's stage argument). Never in the user's
   * own directory (`drover exec -- cmd` with the shell executor). Returns whether it succeeded.
   */
  async #clearWorktree(): Promise<boolean> {
    if (this.#o.job.adHoc && this.#o.executor.kind === "shell") return true;
    const run = await this.#runScript(
      "clear_worktree",
      clearWorktreeScript(this.#projectDir),
      this.#stop.signal,
      "Clearing the worktree before get_sources is retried",
    );
    return run.outcome === "success";
  }

  /** One Run call: a script through the executor, its output into the job log. */
  #runScript(
    name: StageRecord["name"],
    script: string,
    signal: AbortSignal,
    title: string,
  ): Promise<StageRun> {
    const client = this.#client!;
    const env: Record<string, string> = {};
    for (const variable of this.#variables) if (!variable.file) env[variable.key] = variable.value;
    return this.#consume(
      name,
      Date.now(),
      async (onOutput) => {
        let last: StageResult | undefined;
        for await (const event of client.run(
          { jobId: this.#o.jobKey, stage: name, script, env },
          { signal },
        )) {
          if (event.event.case === "output") onOutput(event.event.value.data, event.event.value.stream);
          else if (event.event.case === "result") last = event.event.value;
        }
        return last;
      },
      signal,
      title,
    );
  }

  /** A stage's outcome becomes the job's state. */
  #apply(stage: PlannedStage, run: StageRun): void {
    const message = run.message ?? run.outcome;
    if (run.outcome === "canceled" || (run.outcome === "timed_out" && this.#stop.signal.aborted)) {
      this.#stopped();
      return;
    }
    if (run.outcome === "success" || !stage.affectsStatus) {
      if (run.outcome !== "success") this.#o.log.line(`WARNING: ${stage.name} failed: ${message}`, "warning");
      return;
    }
    if (stage.allowFailure && run.outcome === "build_failure") {
      this.#o.log.line(`WARNING: ${stage.name} failed (allowed to fail): ${message}`, "warning");
      return;
    }
    switch (run.outcome) {
      case "build_failure":
        this.#fail("script_failure", run.result?.exitCode, message);
        return;
      case "timed_out":
        this.#fail(
          "job_execution_timeout",
          undefined,
          `${stage.name} timed out after ${stage.timeoutSeconds}s`,
        );
        return;
      case "configuration_error":
        this.#fail("runner_configuration_error", undefined, message);
        return;
      default:
        this.#fail("runner_system_failure", undefined, message);
    }
  }

  // ---- cleanup --------------------------------------------------------------------------------

  /** Always called once configured; never changes the job's status. Output goes to drover's log. */
  async #cleanup(): Promise<void> {
    const client = this.#client!;
    const logger = this.#o.logger.child({ stage: "cleanup" });
    const started = Date.now();
    // Not tied to cancel nor to the hard abort (SPEC §7: cleanup runs on its own timeout that job
    // cancellation does not cut; a coordinator's "canceled" must not leak a driver's VM). A second
    // Ctrl-C kills the plugins themselves, which ends this call too.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort("timeout"), CLEANUP_TIMEOUT_MS);
    let last: StageResult | undefined;
    try {
      for await (const event of client.cleanup({ jobId: this.#o.jobKey }, { signal: controller.signal })) {
        if (event.event.case === "output") {
          const text = Buffer.from(event.event.value.data).toString("utf8").trimEnd();
          if (event.event.value.stream === OutputStream.STDERR)
            logger.warn({ output: text }, "cleanup stderr");
          else logger.debug({ output: text }, "cleanup stdout");
        } else if (event.event.case === "result") last = event.event.value;
      }
    } catch (err) {
      last = {
        kind: ResultKind.SYSTEM_FAILURE,
        exitCode: 0,
        message: DroverError.from(err).shortMessage,
      } as StageResult;
    } finally {
      clearTimeout(timer);
    }
    const ok = last?.kind === ResultKind.SUCCESS;
    if (!ok) this.#o.log.line(`WARNING: Cleanup script failed: ${last?.message || "no result"}`, "warning");
    this.#record(
      "cleanup",
      ok ? "success" : "system_failure",
      last?.exitCode,
      Date.now() - started,
      last?.message,
    );
  }

  /** The job_completed hooks: always, whatever happened; a failure fails a job that had succeeded. */
  async #completedHooks(): Promise<void> {
    if (!this.#o.lifecycle.length) return;
    const result = this.#result();
    const variables = this.#variables.length ? this.#variables : this.#provisionalVariables();
    const outcome = await runLifecycle("completed", this.#o.lifecycle, {
      context: (settingsJson) => this.#context(variables, settingsJson),
      log: this.#o.log,
      // Not cut by a graceful cancel: the completed hook runs after cancel too (SPEC §8).
      signal: this.#o.abort,
      effects: this.#hookEffects,
      onMask: (value) => this.#redact(value),
      outcome: jobOutcome(result),
    });
    if (!outcome.ok)
      this.#fail("runner_system_failure", undefined, `job_completed hook failed: ${outcome.message}`);
  }

  // ---- helpers --------------------------------------------------------------------------------

  /**
   * Reads one stage's event stream into the job log and turns how it ended into a StageRun.
   * `signal` is the stage's own signal (job stop, stage timeout); its reason says why a call was
   * cut short.
   */
  async #consume(
    name: StageRecord["name"],
    started: number,
    read: (onOutput: (data: Uint8Array, stream: OutputStream) => void) => Promise<StageResult | undefined>,
    signal: AbortSignal = this.#stop.signal,
    title?: string,
  ): Promise<StageRun> {
    const { log } = this.#o;
    if (title) log.sectionStart(name, title);
    let run: StageRun;
    try {
      const result = await read((data) => log.output(data));
      run = result
        ? fromResult(result)
        : {
            outcome: "system_failure",
            result: undefined,
            message: `${name}: the executor ended the stage without a result`,
          };
    } catch (err) {
      if (signal.aborted) {
        const reason = signal.reason as StopReason;
        run =
          reason === "timeout"
            ? { outcome: "timed_out", result: undefined, message: "timed out" }
            : {
                outcome: "canceled",
                result: undefined,
                message: reason === "interrupted" ? "interrupted" : "canceled",
              };
      } else {
        this.#logError(`ERROR: ${name} failed`, err);
        run = { outcome: "system_failure", result: undefined, message: DroverError.from(err).shortMessage };
      }
    }
    log.flush();
    const durationMs = Date.now() - started;
    if (title) {
      log.sectionEnd(name, {
        ok: run.outcome === "success",
        durationMs,
        ...(run.outcome === "success" ? {} : { note: run.message ?? run.outcome }),
      });
    }
    this.#record(name, run.outcome, run.result?.exitCode, durationMs, run.message);
    return run;
  }

  /**
   * Keeps `value` out of drover's own log while this job runs (faults suite, security.test.ts: a
   * plugin that prints a masked value on stderr must not put it into drover's log); released when
   * the job ends, so a daemon's redaction set does not grow with the number of jobs.
   */
  #redact(value: string): void {
    if (!this.#logRedactions.has(value)) this.#logRedactions.set(value, addLogRedaction([value]));
  }

  /** An error in the job log: its one line, and what the plugin printed last on stderr, if anything. */
  #logError(prefix: string, err: unknown): void {
    const error = DroverError.from(err);
    this.#o.log.line(`${prefix}: ${error.shortMessage}`, "error");
    if (error.details.stderrTail) {
      this.#o.log.line(`Last lines on the plugin's stderr:\n${error.details.stderrTail}`, "error");
    }
  }

  #record(
    name: StageRecord["name"],
    outcome: StageOutcome,
    exitCode: number | undefined,
    durationMs: number,
    message: string | undefined,
  ): void {
    this.#stages.push({ name, outcome, exitCode, durationMs, message });
  }

  #fail(reason: FailedReason, exitCode: number | undefined, message: string): void {
    if (this.#status !== "success") return; // the first failure is the job's story
    this.#status = "failed";
    this.#failure = { status: "failed", reason, exitCode, message, stages: [], durationMs: 0 };
  }

  /** The job was stopped (cancel, interrupt, job timeout): record why. An earlier failure stays the story. */
  #stopped(): void {
    const reason = (this.#stop.signal.reason ?? "canceled") as StopReason;
    if (reason === "timeout")
      this.#fail(
        "job_execution_timeout",
        undefined,
        `execution took longer than ${this.#o.job.timeoutSeconds}s`,
      );
    else if (reason === "interrupted")
      this.#fail("runner_interrupted", undefined, "the runner was interrupted");
    else if (this.#status === "success") this.#status = "canceled";
  }

  #result(): JobResult {
    const durationMs = Date.now() - this.#started;
    if (this.#status === "canceled")
      return {
        status: "canceled",
        reason: "job_canceled",
        message: "the job was canceled",
        stages: this.#stages,
        durationMs,
      };
    if (this.#failure) return { ...this.#failure, stages: this.#stages, durationMs };
    return { status: "success", stages: this.#stages, durationMs };
  }

  #tmpDir(): string {
    const { job } = this.#o;
    // GitLab keeps file variables beside the project dir; an ad-hoc job's project dir is the user's
    // own checkout, so its files go under the builds dir instead.
    return job.adHoc && this.#o.executor.kind === "shell"
      ? join(this.#buildsDir, "tmp", `${this.#o.jobKey}.tmp`)
      : `${this.#projectDir}.tmp`;
  }

  #provisionalVariables(): JobVariable[] {
    return this.#allVariables(undefined);
  }

  /**
   * The job's variables: predefined + payload, then the runner's `environment`, then what the
   * job_started hooks exported. (An executor's `job_env` is not among them: like GitLab's custom
   * executor, it is for the executor's own later calls, not the job's scripts.)
   */
  #allVariables(host: string | undefined): JobVariable[] {
    const { job, runner } = this.#o;
    const vars = allVariables(job, {
      buildsDir: this.#buildsDir,
      projectDir: this.#projectDir,
      concurrentId: this.#o.slots.concurrentId,
      concurrentProjectId: this.#o.slots.concurrentProjectId,
      runnerShortToken: runnerShortToken(runner),
      runnerName: runner.name,
      hostname: host || hostname(),
      jobStatus: this.#status === "success" ? "running" : this.#status,
    });
    const extra: JobVariable[] = [
      ...runner.environment.map((pair) => plainVariable(pair.key, pair.value)),
      ...Object.entries(this.#hookEffects.env).map(([key, value]) => plainVariable(key, value)),
    ];
    for (const value of maskedValues(vars)) {
      this.#o.log.addMask(value);
      // faults suite (security.test.ts, "no masked value in drover's own log"): a plugin that prints
      // a masked value on stderr must not put it into drover's log, nor may drover's own lines.
      this.#redact(value);
    }
    return [...vars, ...extra];
  }

  #context(variables: JobVariable[], settingsJson?: string): JobContext {
    const { job, runner } = this.#o;
    return create(JobContextSchema, {
      jobId: this.#o.jobKey,
      jobName: job.name,
      jobJson: new TextEncoder().encode(JSON.stringify(job.payload)),
      variables,
      runnerName: runner.name,
      runnerSettingsJson: settingsJson ?? JSON.stringify(runner.executor === "shell" ? {} : runner.settings),
      image: job.image,
      services: job.services,
    });
  }
}

function withoutAdHoc(job: Job): Job {
  const { adHoc: _, ...rest } = job;
  return rest;
}

function plainVariable(key: string, value: string): JobVariable {
  return { key, value, public: true, masked: false, file: false, raw: false };
}

/** GitLab's short token: the first 8 characters after the `glrt-` prefix; "local" without a token. */
export function runnerShortToken(runner: RunnerConfig): string {
  if (!runner.token) return "local";
  return runner.token.replace(/^glrt-/, "").slice(0, 8);
}

/** Waits `ms`; false when `signal` aborted first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
