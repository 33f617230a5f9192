/**
 * `npm run bench`: drover's performance figures against floors measured in the same run on the same
 * machine (docs/performance.md), as one table. Exits 0 even when a target is missed: this is a measurement;
 * the table marks the misses.
 *
 * The binary under test is a private copy of dist/drover (built first if missing), so that a
 * rebuild of dist/ by someone else during the run cannot change what is measured halfway through.
 * Every benchmark runs with HOME, the XDG directories and TMPDIR inside a scratch directory; what a
 * benchmark leaves in its TMPDIR is reported under the table. A benchmark that throws is shown as
 * FAILED and makes the exit status 1; the others still run.
 *
 *   npm run bench                    all of them
 *   npm run bench -- launch stage    only those (keys: startup, job, launch, stage, custom, log,
 *                                    concurrency, container; or their letters: npm run bench -- f g)
 */
import { copyFileSync, readdirSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { concurrency } from "./concurrency.ts";
import { containerStage } from "./container-stage.ts";
import type { BenchContext } from "./context.ts";
import { customOverhead } from "./custom-overhead.ts";
import { cleanEnv, ensureDrover, formatTable, machineLine, type Row, scratch } from "./harness.ts";
import { jobOverhead } from "./job-overhead.ts";
import { logThroughput } from "./log-throughput.ts";
import { installedPluginLaunch, pluginLaunch, runtimePluginLaunch } from "./plugin-launch.ts";
import { stageRpc } from "./stage-rpc.ts";
import { startup } from "./startup.ts";

/** A benchmark gives one row, or several when it has several targets (f, g). */
const benchmarks: ReadonlyArray<{
  id: string;
  key: string;
  run: (ctx: BenchContext) => Promise<Row | Row[]>;
}> = [
  { id: "a", key: "startup", run: startup },
  { id: "b", key: "job", run: jobOverhead },
  {
    id: "c",
    key: "launch",
    run: async (ctx) => [
      await pluginLaunch(ctx),
      await installedPluginLaunch(ctx),
      await runtimePluginLaunch(ctx),
    ],
  },
  { id: "d", key: "stage", run: stageRpc },
  { id: "e", key: "custom", run: customOverhead },
  { id: "f", key: "log", run: logThroughput },
  { id: "g", key: "concurrency", run: concurrency },
  { id: "h", key: "container", run: containerStage },
];

async function main(): Promise<void> {
  const started = performance.now();
  const only = process.argv.slice(2);
  const unknown = only.filter((o) => !benchmarks.some((b) => b.key === o || b.id === o));
  if (unknown.length) {
    process.stderr.write(
      `unknown benchmark ${unknown.join(", ")}; choose from ${benchmarks.map((b) => `${b.id} (${b.key})`).join(", ")}\n`,
    );
    process.exit(2);
  }
  const chosen = only.length
    ? benchmarks.filter((b) => only.includes(b.key) || only.includes(b.id))
    : benchmarks;
  using root = scratch();
  const drover = join(root.dir("bin"), "drover");
  copyFileSync(ensureDrover(), drover);

  process.stdout.write(`${machineLine()}\n`);
  const rows: Row[] = [];
  const leftovers: string[] = [];
  const realTmp = process.env.TMPDIR;
  for (const bench of chosen) {
    const home = root.dir(`${bench.key}/home`);
    const tmp = root.dir(`${bench.key}/tmp`);
    const ctx: BenchContext = {
      drover,
      dir: (name) => root.dir(`${bench.key}/${name}`),
      env: cleanEnv(home, tmp),
      cwd: root.dir(`${bench.key}/cwd`),
      counts: { warmups: 2, runs: 15 },
    };
    // In-process benchmarks start plugins with this process's environment: their sockets and
    // script dirs go to the benchmark's TMPDIR too.
    process.env.TMPDIR = tmp;
    if (process.stderr.isTTY) process.stderr.write(`running ${bench.key}...\n`);
    try {
      const result = await bench.run(ctx);
      for (const row of Array.isArray(result) ? result : [result]) rows.push({ ...row, id: bench.id });
    } catch (err) {
      // A benchmark that cannot measure is a broken benchmark (or a broken drover), not a missed
      // target: show it in the table, go on with the others, and exit 1 at the end.
      const message = err instanceof Error ? err.message : String(err);
      rows.push({
        id: bench.id,
        name: bench.key,
        measured: "FAILED",
        floor: "–",
        ratio: "–",
        target: "–",
        met: false,
        notes: [message.split("\n")[0] ?? message],
      });
      process.exitCode = 1;
    } finally {
      if (realTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = realTmp;
    }
    const left = readdirSync(tmp);
    if (left.length) leftovers.push(`${bench.id}. left in TMPDIR after the runs: ${left.join(", ")}`);
  }
  process.stdout.write(`${formatTable(rows)}\n`);
  for (const line of leftovers) process.stdout.write(`  ${line}\n`);
  // Other work on the machine moves every figure (floors too): say how busy it was at the end.
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(`total ${seconds} s; load average now ${loadavg()[0]!.toFixed(2)}\n`);
}

await main();
