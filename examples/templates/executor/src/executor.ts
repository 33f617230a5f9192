/**
 * An executor runs a job's stages. drover calls, for each job:
 *
 *   configure  once: say where the job's files go (builds_dir, cache_dir)
 *   prepare    once: get the environment ready (start a VM, pull an image, ...)
 *   run        once per stage (get_sources, build_script, after_script, ...): run the bash script
 *              drover sends, stream its output back, say how it ended
 *   cleanup    once, always: remove what the job left
 *
 * Each handler is an async generator: `yield output(...)` sends output to the job log as it comes,
 * and the last thing it yields is a result. This one runs every stage with bash on this host, in a
 * directory of its own per job; change `run` to run the script somewhere else (ssh, a container).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ExecutorPlugin,
  mergeOutput,
  output,
  ResultKind,
  result,
  stageResultFromExit,
  startChild,
} from "@drover/plugin-sdk";

export const NAME = "my-executor";
export const VERSION = "0.1.0";

/** How long a cancelled stage gets between SIGTERM and SIGKILL. */
const GRACE_MS = 5_000;

export function myExecutor(): ExecutorPlugin {
  /** Each job's own directory, by job id. */
  const jobs = new Map<string, string>();

  return {
    // capabilities: "cancel" tells drover that run() stops when its signal aborts.
    info: { name: NAME, version: VERSION, capabilities: ["cancel"] },
    handlers: {
      async *configure(request) {
        const dir = mkdtempSync(join(tmpdir(), `${NAME}-job-`));
        mkdirSync(join(dir, "builds"));
        jobs.set(request.job?.jobId ?? "", dir);
        yield {
          event: {
            case: "result",
            value: {
              status: { kind: ResultKind.SUCCESS },
              config: {
                buildsDir: join(dir, "builds"),
                cacheDir: join(dir, "cache"),
                driver: { name: NAME, version: VERSION },
              },
            },
          },
        };
      },

      async *prepare() {
        yield output("stdout", `${NAME} ${VERSION} is ready\n`);
        yield result(ResultKind.SUCCESS);
      },

      async *run(request, ctx) {
        const dir = jobs.get(request.jobId);
        if (dir === undefined) {
          yield result(ResultKind.SYSTEM_FAILURE, 0, `${request.stage}: the job was not configured`);
          return;
        }
        const script = join(dir, `${request.stage.replace(/[^\w.-]/g, "_")}.sh`);
        writeFileSync(script, request.script, { mode: 0o700 });
        // startChild: its own process group, SIGTERM then SIGKILL when ctx.signal aborts (drover
        // cancels the stage), and only the environment given here.
        const child = startChild({
          name: `stage ${request.stage}`,
          command: "bash",
          args: ["--noprofile", "--norc", script],
          cwd: dir,
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...request.env },
          graceMs: GRACE_MS,
          signal: ctx.signal,
        });
        try {
          for await (const chunk of mergeOutput(child.stdout, child.stderr)) {
            yield output(chunk.stream, chunk.data);
          }
          // Exit 0 is success; any other exit, or a signal, is the job's own failure.
          yield stageResultFromExit(await child.exited);
        } finally {
          child.stop("cancel");
          await child.exited;
        }
      },

      async *cleanup(request) {
        const dir = jobs.get(request.jobId);
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
        jobs.delete(request.jobId);
        yield result(ResultKind.SUCCESS);
      },
    },
  };
}
