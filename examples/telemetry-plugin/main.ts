/**
 * A lifecycle plugin written with the drover SDK: appends one JSON line per job event (job id,
 * name, runner, status, failure reason, duration of each stage) to a file.
 *
 *   [[hooks.plugins]]
 *     path = "/usr/local/lib/drover/telemetry"
 *     [hooks.plugins.settings]
 *       file = "/var/log/drover/jobs.jsonl"
 *
 * Build it into one executable: bun build --compile examples/telemetry-plugin/main.ts --outfile telemetry
 */
import { appendFileSync } from "node:fs";
import { type JobContext, type JobOutcome, ResultKind, result, serveLifecycle } from "@drover/plugin-sdk";

interface Settings {
  file: string;
}

function settingsOf(job: JobContext | undefined): Settings {
  const parsed: unknown = JSON.parse(job?.runnerSettingsJson || "{}");
  const file = (parsed as { file?: unknown }).file;
  if (typeof file !== "string" || !file.startsWith("/")) {
    throw new Error(
      'telemetry: settings.file must be an absolute path, e.g. file = "/var/log/drover/jobs.jsonl"',
    );
  }
  return { file };
}

function record(
  event: "job_started" | "job_completed",
  job: JobContext | undefined,
  outcome?: JobOutcome,
): void {
  const line = {
    time: new Date().toISOString(),
    event,
    job_id: job?.jobId,
    job_name: job?.jobName,
    runner: job?.runnerName,
    ...(outcome
      ? {
          status: outcome.status,
          failure_reason: outcome.failureReason || undefined,
          duration_ms: Number(outcome.durationMs),
          stages: outcome.stages.map((s) => ({
            name: s.name,
            duration_ms: Number(s.durationMs),
            kind: ResultKind[s.kind],
          })),
        }
      : {}),
  };
  // One write per line: appends of a line this size are atomic, so concurrent jobs do not interleave.
  appendFileSync(settingsOf(job).file, `${JSON.stringify(line)}\n`);
}

await serveLifecycle({
  info: { name: "telemetry", version: "1.0.0", capabilities: [] },
  handlers: {
    async *jobStarted(request) {
      record("job_started", request.job);
      yield result(ResultKind.SUCCESS);
    },
    async *jobCompleted(request) {
      record("job_completed", request.job, request.outcome);
      yield result(ResultKind.SUCCESS);
    },
  },
});
