// A small executor plugin written against the built SDK package, as a plugin author outside this
// repository would: plain JavaScript for Node, importing "@drover/plugin-sdk" by its package name.
// sdk.node.mjs copies it next to a node_modules/ that holds the built package, and runs it with node.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { mergeOutput, output, ResultKind, result, serveExecutor } from "@drover/plugin-sdk";

const VERSION = "0.2.0";
/** Job id → the job's private directory. */
const jobs = new Map();

await serveExecutor({
  info: {
    name: "hello-node",
    version: VERSION,
    capabilities: ["cancel"],
    settingsSchema: JSON.stringify({ type: "object", properties: { greeting: { type: "string" } } }),
  },
  handlers: {
    async *configure(request) {
      const dir = mkdtempSync(join(tmpdir(), "hello-node-"));
      jobs.set(request.job?.jobId ?? "", dir);
      yield {
        event: {
          case: "result",
          value: {
            status: { kind: ResultKind.SUCCESS },
            config: {
              buildsDir: join(dir, "builds"),
              hostname: hostname(),
              driver: { name: "hello-node", version: VERSION },
            },
          },
        },
      };
    },
    async *prepare() {
      yield output("stdout", `hello from node ${process.version}\n`);
      yield result(ResultKind.SUCCESS);
    },
    async *run(request, ctx) {
      const dir = jobs.get(request.jobId);
      if (!dir) {
        yield result(ResultKind.SYSTEM_FAILURE, 0, `unknown job ${request.jobId}`);
        return;
      }
      const script = join(dir, `${request.stage}.sh`);
      writeFileSync(script, request.script, { mode: 0o700 });
      const child = spawn("bash", ["--noprofile", "--norc", script], {
        cwd: dir,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      const exited = new Promise((resolve) => child.once("close", (code, signal) => resolve([code, signal])));
      const stop = () => {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      };
      ctx.signal.addEventListener("abort", stop, { once: true });
      try {
        for await (const chunk of mergeOutput(child.stdout, child.stderr))
          yield output(chunk.stream, chunk.data);
        const [code, signal] = await exited;
        if (code === 0) yield result(ResultKind.SUCCESS);
        else if (code !== null) yield result(ResultKind.BUILD_FAILURE, code, `exit status ${code}`);
        else yield result(ResultKind.BUILD_FAILURE, 1, `terminated by ${signal}`);
      } finally {
        ctx.signal.removeEventListener("abort", stop);
      }
    },
    async *cleanup(request) {
      const dir = jobs.get(request.jobId);
      if (dir) rmSync(dir, { recursive: true, force: true });
      jobs.delete(request.jobId);
      yield result(ResultKind.SUCCESS);
    },
  },
});
