/**
 * Job hooks as lifecycle plugins (docs/hooks.md): the job's "Set up runner" and "Complete runner" steps.
 * Every participant (the built-in script-hooks plugin, third-party `[[hooks.plugins]]`) gets the
 * same JobStarted / JobCompleted calls; what they stream back lands in the job log, and what the
 * started hooks export (GITHUB_ENV, GITHUB_PATH, masks) changes every later stage of the job.
 */

import type { MessageInitShape } from "@bufbuild/protobuf";
import { DroverError } from "../../kernel/errors.ts";
import type { JobContext } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import { ResultKind } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import type { JobOutcomeSchema } from "../../kernel/gen/drover/plugin/v1/lifecycle_pb.ts";
import {
  AnnotationLevel,
  type JobOutcome,
  type LifecycleEvent,
} from "../../kernel/gen/drover/plugin/v1/lifecycle_pb.ts";
import type { LifecycleClient } from "../../kernel/protocol/clients.ts";
import type { JobLog } from "../log/job-log.ts";

/** One lifecycle plugin taking part in a job. */
export interface LifecycleParticipant {
  /** For messages: "script-hooks", "telemetry". */
  name: string;
  client: () => Promise<LifecycleClient>;
  /** Goes to the plugin as JobContext.runner_settings_json. */
  settingsJson: string;
  /** Which calls it takes part in (the script-hooks plugin only where a script is set). */
  calls: { started: boolean; completed: boolean };
}

/** What the started hooks leave for the rest of the job. */
export interface StartedEffects {
  env: Record<string, string>;
  /** Directories to put in front of PATH, newest first. */
  pathPrepend: string[];
}

export type HookOutcome = { ok: true } | { ok: false; message: string };

type Call = "started" | "completed";

/**
 * Runs one lifecycle call on every participant, in order, inside one job-log section. Stops at the
 * first failure for JobStarted (the job fails, later participants are not asked); JobCompleted asks
 * every participant whatever happens, and reports the first failure.
 */
export async function runLifecycle(
  call: Call,
  participants: readonly LifecycleParticipant[],
  options: {
    context: (settingsJson: string) => JobContext;
    log: JobLog;
    signal: AbortSignal;
    effects: StartedEffects;
    /** A value to mask from now on (::add-mask::): the job log masks it; drover's log is the caller's. */
    onMask: (value: string) => void;
    outcome?: MessageInitShape<typeof JobOutcomeSchema> | JobOutcome;
  },
): Promise<HookOutcome> {
  participants = participants.filter((p) => p.calls[call]);
  if (!participants.length) return { ok: true };
  const { log } = options;
  const section = call === "started" ? "set_up_runner" : "complete_runner";
  log.sectionStart(section, call === "started" ? "Set up runner" : "Complete runner");
  const started = Date.now();
  let failure: string | undefined;
  for (const participant of participants) {
    if (call === "started" && failure) break;
    const outcome = await runOne(call, participant, options);
    if (!outcome.ok) failure ??= outcome.message;
  }
  log.flush();
  log.sectionEnd(section, {
    ok: !failure,
    durationMs: Date.now() - started,
    ...(failure ? { note: failure } : {}),
  });
  return failure ? { ok: false, message: failure } : { ok: true };
}

async function runOne(
  call: Call,
  participant: LifecycleParticipant,
  options: Parameters<typeof runLifecycle>[2],
): Promise<HookOutcome> {
  const { log, effects } = options;
  const summaries: string[] = [];
  let result: { kind: ResultKind; message: string; exitCode: number } | undefined;
  try {
    const client = await participant.client();
    const job = options.context(participant.settingsJson);
    const stream =
      call === "started"
        ? client.jobStarted({ job }, { signal: options.signal })
        : client.jobCompleted(
            { job, outcome: options.outcome ?? {}, exportedEnv: effects.env },
            { signal: options.signal },
          );
    for await (const event of stream) {
      const value = event.event;
      if (value.case === "result") result = value.value;
      else if (value.case !== undefined) apply(value, log, effects, summaries, options.onMask);
    }
  } catch (err) {
    const error = DroverError.from(err);
    log.line(`ERROR: lifecycle plugin "${participant.name}" failed: ${error.shortMessage}`, "error");
    if (error.details.stderrTail)
      log.line(`Last lines on the plugin's stderr:\n${error.details.stderrTail}`, "error");
    return { ok: false, message: `lifecycle plugin "${participant.name}" failed: ${error.shortMessage}` };
  }
  for (const summary of summaries) {
    log.line("Step summary:", "section");
    log.output(new TextEncoder().encode(summary.endsWith("\n") ? summary : `${summary}\n`));
  }
  if (!result) return { ok: false, message: `lifecycle plugin "${participant.name}" ended without a result` };
  if (result.kind === ResultKind.SUCCESS) return { ok: true };
  const message =
    result.message || `lifecycle plugin "${participant.name}" failed (exit code ${result.exitCode})`;
  log.line(`ERROR: ${message}`, "error");
  return { ok: false, message };
}

type EventValue = Exclude<LifecycleEvent["event"], { case: "result" } | { case: undefined }>;

function apply(
  event: EventValue,
  log: JobLog,
  effects: StartedEffects,
  summaries: string[],
  onMask: (value: string) => void,
): void {
  switch (event.case) {
    case "output":
      log.output(event.value.data);
      return;
    case "annotation": {
      const a = event.value;
      const level =
        a.level === AnnotationLevel.ERROR
          ? "ERROR"
          : a.level === AnnotationLevel.WARNING
            ? "WARNING"
            : "NOTICE";
      const where = a.file
        ? ` (${a.file}${a.line ? `:${a.line}` : ""}${a.column ? `:${a.column}` : ""})`
        : "";
      const title = a.title ? `${a.title}: ` : "";
      log.line(
        `${level}: ${title}${a.message}${where}`,
        a.level === AnnotationLevel.ERROR
          ? "error"
          : a.level === AnnotationLevel.WARNING
            ? "warning"
            : "info",
      );
      return;
    }
    case "mask":
      if (event.value) {
        log.addMask(event.value);
        onMask(event.value);
      }
      return;
    case "setEnv":
      effects.env[event.value.name] = event.value.value;
      return;
    case "addPath":
      effects.pathPrepend.unshift(event.value);
      return;
    case "stepSummary":
      summaries.push(event.value);
      return;
  }
}
