/**
 * The prepare phase: launch (or reach) the executor plugin, then Configure, the job_started hooks
 * (once, between the first successful Configure and Prepare, with the directories the executor
 * chose) and Prepare, retried as GitLab retries them: 3 attempts, 3 s apart, a Cleanup after each
 * failed one. What a failure means is the outcome table's business (outcome.ts); this does the
 * calls, in order.
 */
import { DroverError } from "../../../kernel/errors.ts";
import type { JobConfig } from "../../../kernel/gen/drover/plugin/v1/executor_pb.ts";
import type { StageResult } from "../../../kernel/gen/drover/plugin/v1/job_pb.ts";
import type { ExecutorClient } from "../../../kernel/protocol/clients.ts";
import type { JobRun } from "../job-run.ts";
import type { StageRun } from "../outcome.ts";
import { streamStage } from "../stage-call.ts";
import { cleanupPhase } from "./cleanup.ts";
import { startedHooksPhase } from "./hooks.ts";

/** prepare (Configure + Prepare) attempts and the pause between them: GitLab's values. */
export const PREPARE_ATTEMPTS = 3;
export const PREPARE_RETRY_DELAY_MS = 3_000;

/** Returns the executor's client when the job is prepared and its stages may run. */
export async function preparePhase(run: JobRun): Promise<ExecutorClient | undefined> {
  const { log } = run;
  log.sectionStart("prepare_executor", `Preparing the "${run.options.executor.name}" executor`);
  const started = Date.now();
  const end = (ok: boolean, note?: string) =>
    log.sectionEnd("prepare_executor", { ok, durationMs: Date.now() - started, ...(note ? { note } : {}) });

  let client: ExecutorClient;
  try {
    client = await run.options.connect();
  } catch (err) {
    const error = DroverError.from(err);
    run.logError("ERROR: Preparation failed", err);
    end(false, error.shortMessage);
    const failed: StageRun = { outcome: "system_failure", exitCode: undefined, message: error.shortMessage };
    run.record("prepare", failed, Date.now() - started);
    run.decide({ kind: "connect", configurationError: error.code === "config_invalid" }, failed);
    return undefined;
  }

  let hooksRan = false;
  for (let attempt = 1; attempt <= PREPARE_ATTEMPTS; attempt++) {
    // faults suite ("a plugin that dies between two jobs"): a retry asks for the client again, so
    // that a plugin that died (before this job noticed, or during the failed attempt) is restarted.
    if (attempt > 1) client = await run.options.connect();
    const outcome = await prepareOnce(run, client, hooksRan);
    hooksRan ||= outcome.hooksRan;
    if (outcome.run.outcome === "success") {
      end(true);
      return client;
    }
    const verdict = run.decide(
      outcome.failedIn === "hooks"
        ? { kind: "started_hooks" }
        : { kind: "prepare", lastAttempt: attempt === PREPARE_ATTEMPTS },
      outcome.run,
    );
    const message = outcome.run.message ?? "prepare failed";
    if (verdict.kind === "stop" || outcome.failedIn === "hooks") {
      end(false, message);
      return undefined;
    }
    log.line(`ERROR: Preparation failed: ${message}`, "error");
    if (verdict.kind !== "retry") {
      end(false, message);
      return undefined;
    }
    const delayMs = run.options.prepareRetryDelayMs ?? PREPARE_RETRY_DELAY_MS;
    log.line(`Will be retried in ${delayMs / 1000}s ...`, "info");
    await cleanupPhase(run, client);
    if (!(await sleep(delayMs, run.stop))) {
      end(false, message);
      run.noteStop("prepare");
      return undefined;
    }
  }
  return undefined;
}

interface AttemptOutcome {
  run: StageRun;
  /** Whether the failure (if any) is the job_started hooks'. */
  failedIn: "executor" | "hooks";
  hooksRan: boolean;
}

/** One attempt: Configure, the job_started hooks (first time only), Prepare. */
async function prepareOnce(run: JobRun, client: ExecutorClient, hooksRan: boolean): Promise<AttemptOutcome> {
  const signal = run.stop;
  const started = Date.now();
  let config: JobConfig | undefined;
  const configured = await streamStage(run, {
    name: "configure",
    signal,
    read: async (onOutput) => {
      for await (const event of client.configure({ job: run.context() }, { signal })) {
        if (event.event.case === "output") onOutput(event.event.value.data, event.event.value.stream);
        else if (event.event.case === "result") {
          config = event.event.value.config;
          return event.event.value.status;
        }
      }
      return undefined;
    },
  });
  run.configuredClient = client;
  if (configured.outcome !== "success") return { run: configured, failedIn: "executor", hooksRan };
  const problem = run.place(config);
  if (problem) {
    const failed: StageRun = { outcome: "configuration_error", exitCode: undefined, message: problem };
    run.record("configure", failed, Date.now() - started);
    return { run: failed, failedIn: "executor", hooksRan };
  }
  const using = usingLine(run, config);
  if (using) run.log.line(using, "info");
  if (!hooksRan) {
    const hooks = await startedHooksPhase(run);
    if (hooks.outcome !== "success") return { run: hooks, failedIn: "hooks", hooksRan: true };
    hooksRan = true;
  }
  const prepared = await streamStage(run, {
    name: "prepare",
    signal,
    optional: true,
    read: async (onOutput) => {
      let last: StageResult | undefined;
      for await (const event of client.prepare({ job: run.context() }, { signal })) {
        if (event.event.case === "output") onOutput(event.event.value.data, event.event.value.stream);
        else if (event.event.case === "result") last = event.event.value;
      }
      return last;
    },
  });
  return { run: prepared, failedIn: "executor", hooksRan };
}

/**
 * GitLab's "Using ... executor" line: the custom executor's exactly as GitLab prints it (with the
 * driver's name and version when config_exec gives them), the shell executor's with its shell; a
 * plugin's only when it names a driver.
 */
function usingLine(run: JobRun, config: JobConfig | undefined): string | undefined {
  const { executor } = run.options;
  const name = config?.driver?.name;
  const driver = name ? ` with driver ${[name, config?.driver?.version].filter(Boolean).join(" ")}` : "";
  switch (executor.kind) {
    case "shell":
      return `Using Shell (${config?.shell || run.options.runner.shell || "bash"}) executor...`;
    case "custom":
      return `Using Custom executor${driver}...`;
    case "plugin":
      return driver ? `Using ${executor.title} executor${driver}...` : undefined;
  }
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
