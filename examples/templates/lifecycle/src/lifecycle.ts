/**
 * A lifecycle plugin sees every job start and end, as GitHub's job hooks do:
 *
 *   jobStarted    before the job's first stage; a failed result fails the job before it runs
 *   jobCompleted  after the job's last stage, with how it went (status, stages, durations)
 *
 * Besides output, a handler may yield events that act on the job from then on: mask(value),
 * setEnv(name, value), addPath(dir), annotation(level, message) and stepSummary(markdown).
 * Settings come from `[hooks.plugins.settings]` in config.toml, as JSON in
 * `request.job.runnerSettingsJson`.
 */
import { type LifecyclePlugin, output, ResultKind, result, setEnv } from "@drover/plugin-sdk";

export const NAME = "my-lifecycle";
export const VERSION = "0.1.0";

export function myLifecycle(): LifecyclePlugin {
  const started = new Map<string, number>();
  return {
    info: { name: NAME, version: VERSION, capabilities: [] },
    handlers: {
      async *jobStarted(request) {
        const job = request.job;
        started.set(job?.jobId ?? "", Date.now());
        yield output("stdout", `${NAME}: job ${job?.jobId} (${job?.jobName}) starts on ${job?.runnerName}\n`);
        // Every later stage of the job sees this variable.
        yield setEnv("MY_LIFECYCLE_SEEN", "1");
        yield result(ResultKind.SUCCESS);
      },
      async *jobCompleted(request) {
        const id = request.job?.jobId ?? "";
        const took = Date.now() - (started.get(id) ?? Date.now());
        started.delete(id);
        yield output(
          "stdout",
          `${NAME}: job ${id} ended ${request.outcome?.status ?? "?"} after ${took} ms\n`,
        );
        yield result(ResultKind.SUCCESS);
      },
    },
  };
}
