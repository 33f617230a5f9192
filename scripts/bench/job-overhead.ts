/**
 * b. job overhead of the shell executor: `drover exec -- true`, the whole command as a user waits
 * for it (start-up, config lookup, plugin launch and handshake, configure, prepare, the four stages
 * of a plain job, cleanup, plugin shutdown), against `bash -c true` four times in sequence: the
 * same four stage processes with nothing around them.
 *
 * Each run is traced: the time is split into phases by when the job log's lines arrive, so that
 * the row says where the time goes.
 */
import type { BenchContext } from "./context.ts";
import { compare, ms, type Row, ratio, spread, stats, timeCommand } from "./harness.ts";

const TARGET_MS = 150;
/** prepare_script, get_sources, build_script, cleanup_file_variables (a plain job, docs/jobs.md). */
const PLAIN_JOB_STAGES = 4;

export async function jobOverhead(ctx: BenchContext): Promise<Row> {
  const opts = { cwd: ctx.cwd, env: ctx.env };
  const phases: number[][] = PHASE_NAMES.map(() => []);
  const { subject, floor } = await compare(
    () => tracedRun(ctx, phases),
    () => {
      let total = 0;
      for (let i = 0; i < PLAIN_JOB_STAGES; i++)
        total += timeCommand({ argv: ["bash", "-c", "true"], ...opts });
      return total;
    },
    ctx.counts,
  );
  // Drop the warm-up runs, as compare() does.
  const measured = phases.map((samples) => samples.slice(ctx.counts.warmups));
  const split = PHASE_NAMES.map((name, i) => `${name} ${ms(stats(measured[i]!).median)}`).join(", ");
  return {
    name: "job overhead: exec -- true",
    measured: spread(subject),
    floor: `${spread(floor)} bash×4`,
    ratio: ratio(subject.median, floor.median),
    target: `≤ ${TARGET_MS} ms`,
    met: subject.median <= TARGET_MS,
    notes: [
      `drover adds ${ms(subject.median - floor.median)} per job over the bare stage processes`,
      `where it goes (medians): ${split}`,
    ],
  };
}

/** Phase boundaries, by the job log line that ends each; the last phase ends at exit. */
const PHASES = [
  { name: "start to first log line", ends: (line: string) => line.startsWith("Running with drover") },
  { name: "prepare_executor", ends: (line: string) => line.includes("prepare_executor") },
  { name: "stages + cleanup", ends: (line: string) => line.startsWith("Job succeeded") },
] as const;
const PHASE_NAMES = [...PHASES.map((p) => p.name), "shutdown + exit"];

/** One `drover exec -- true`, wall time from spawn to exit; pushes each phase's duration. */
async function tracedRun(ctx: BenchContext, phases: number[][]): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn([ctx.drover, "exec", "--", "true"], {
    cwd: ctx.cwd,
    env: ctx.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const stderr = new Response(proc.stderr).text();
  const marks: number[] = [];
  let pending = "";
  const decoder = new TextDecoder();
  for await (const chunk of proc.stdout) {
    const now = performance.now();
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) if (PHASES[marks.length]?.ends(line)) marks.push(now);
  }
  const code = await proc.exited;
  const ended = performance.now();
  marks.push(ended);
  if (code !== 0) throw new Error(`drover exec -- true exited with ${code}: ${(await stderr).trim()}`);
  if (marks.length !== PHASE_NAMES.length)
    throw new Error("drover exec -- true: job log lines not recognised");
  marks.forEach((mark, i) => {
    phases[i]!.push(mark - (i === 0 ? started : marks[i - 1]!));
  });
  return ended - started;
}
