/**
 * The built-in `shell` executor (`executor = "shell"`, the default): runs each stage's script with
 * bash on this host, as drover's user, in its own process group, streaming its output back.
 *
 * It is a plugin like any other: the same binary, started by drover as a child in plugin mode.
 */
import { rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import {
  type Child,
  type ExecutorPlugin,
  type JobProcesses,
  mergeOutput,
  output,
  ownedTempDir,
  ResultKind,
  result,
  stageResultFromExit,
  startChild,
} from "@drover/plugin-sdk";

/** SIGTERM → SIGKILL grace for a cancelled or timed-out stage. */
const STAGE_GRACE_MS = 10_000;

interface JobState {
  /** Private dir (0700) for the job's stage scripts. */
  scriptDir: string;
  running: Set<Child>;
  /** Where the job's processes belong (JobContext.containment). */
  job: JobProcesses | undefined;
}

export function shellExecutor(version: string): ExecutorPlugin {
  const jobs = new Map<string, JobState>();

  const stateFor = (jobId: string, job?: JobProcesses): JobState => {
    let state = jobs.get(jobId);
    if (!state) {
      // Named after its owner, so that a later drover removes it if this process is SIGKILLed.
      state = { scriptDir: ownedTempDir("drover-shell-"), running: new Set(), job };
      jobs.set(jobId, state);
    }
    return state;
  };

  return {
    info: { name: "shell", version, capabilities: ["cancel"] },
    handlers: {
      async *configure(request) {
        stateFor(request.job?.jobId ?? "", request.job?.containment);
        yield {
          event: {
            case: "result",
            value: {
              status: { kind: ResultKind.SUCCESS },
              config: { hostname: hostname(), driver: { name: "shell", version } },
            },
          },
        };
      },
      async *prepare() {
        yield result(ResultKind.SUCCESS);
      },
      async *run(request, ctx) {
        const state = stateFor(request.jobId);
        const scriptPath = join(state.scriptDir, `${request.stage.replace(/[^\w.-]/g, "_")}.sh`);
        writeFileSync(scriptPath, request.script, { mode: 0o700 });
        const child = startChild({
          name: `stage ${request.stage}`,
          command: "bash",
          args: ["--noprofile", "--norc", scriptPath],
          env: process.env,
          graceMs: STAGE_GRACE_MS,
          signal: ctx.signal,
          ...(state.job ? { job: state.job } : {}),
          // One pipe for stdout and stderr, as GitLab Runner's shell executor: the order is kept.
          output: "combined",
        });
        state.running.add(child);
        try {
          for await (const chunk of mergeOutput(child.stdout, child.stderr)) {
            yield output(chunk.stream, chunk.data);
          }
          const exit = await child.exited;
          yield stageResultFromExit(exit);
        } finally {
          // The consumer went away (cancel): make sure the stage stops, then forget it.
          child.stop("cancel");
          await child.exited;
          state.running.delete(child);
          rmSync(scriptPath, { force: true });
        }
      },
      async *cleanup(request) {
        const state = jobs.get(request.jobId);
        if (state) {
          await Promise.all([...state.running].map((child) => child.exited));
          rmSync(state.scriptDir, { recursive: true, force: true });
          jobs.delete(request.jobId);
        }
        yield result(ResultKind.SUCCESS);
      },
    },
    async shutdown() {
      const all = [...jobs.values()].flatMap((state) => [...state.running]);
      for (const child of all) child.stop("shutdown");
      await Promise.all(all.map((child) => child.exited));
      for (const state of jobs.values()) rmSync(state.scriptDir, { recursive: true, force: true });
    },
  };
}
