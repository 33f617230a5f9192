/**
 * The benchmark harness: time a piece of work N times after warm-ups, summarise (median, min, max),
 * compare it with a floor measured in the same run, and print one aligned table.
 *
 * Performance is measured here, never in tests (docs/performance.md): a benchmark is a measurement,
 * so a missed target is marked in the table and never fails the run.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { BUN, DROVER, ROOT } from "../paths.ts";

export interface Stats {
  median: number;
  min: number;
  max: number;
  samples: readonly number[];
}

export function stats(samples: readonly number[]): Stats {
  if (samples.length === 0) throw new Error("stats: no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples };
}

export interface RunCounts {
  /** Runs thrown away first (page cache, JIT, lazy module loading). */
  warmups: number;
  /** Runs measured; the median of these is the figure. */
  runs: number;
}

/** Milliseconds one call of `fn` takes, or what `fn` returns when it measures itself. */
export type Sample = () => Promise<number> | number;

/**
 * Measures `subject` and `floor` alternately, so that a slow phase of the machine (another
 * process, a CPU frequency change) lands on both and the ratio stays honest.
 */
export async function compare(
  subject: Sample,
  floor: Sample,
  counts: RunCounts,
): Promise<{ subject: Stats; floor: Stats }> {
  for (let i = 0; i < counts.warmups; i++) {
    await subject();
    await floor();
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < counts.runs; i++) {
    a.push(await subject());
    b.push(await floor());
  }
  return { subject: stats(a), floor: stats(b) };
}

/** Wall time of `work` in milliseconds. */
export async function timed(work: () => unknown): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

export interface Command {
  argv: readonly string[];
  cwd?: string;
  env?: Record<string, string>;
}

/**
 * Runs a command to completion and returns its wall time in ms (spawn to exit, as a user waits
 * for it). Output is discarded; a non-zero exit throws with the stderr, because a benchmark of a
 * failing command measures nothing.
 */
export function timeCommand(command: Command): number {
  const [file, ...args] = command.argv;
  if (file === undefined) throw new Error("timeCommand: empty argv");
  const started = performance.now();
  const result = spawnSync(file, args, {
    ...(command.cwd === undefined ? {} : { cwd: command.cwd }),
    ...(command.env === undefined ? {} : { env: command.env }),
    stdio: ["ignore", "ignore", "pipe"],
    maxBuffer: 16 * 1024 * 1024,
  });
  const ms = performance.now() - started;
  if (result.error) throw new Error(`${command.argv.join(" ")}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(
      `${command.argv.join(" ")} exited with ${result.status ?? result.signal}: ${String(result.stderr).trim()}`,
    );
  }
  return ms;
}

/** A scratch directory for one bench run, removed on dispose. */
export interface Scratch extends Disposable {
  path: string;
  /** A fresh sub-directory. */
  dir(name: string): string;
}

export function scratch(prefix = "drover-bench-"): Scratch {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    dir(name) {
      const dir = join(path, name);
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    [Symbol.dispose]() {
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/**
 * The environment of a user on a fresh host: no config, nothing inherited from npm or bun, HOME and
 * the XDG directories inside `home` so that nothing is written to the real home directory.
 */
export function cleanEnv(home: string, tmp: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local", "share"),
    XDG_CACHE_HOME: join(home, ".cache"),
    TMPDIR: tmp,
    LANG: "C.UTF-8",
  };
}

/** Builds dist/drover when it is missing (`bun scripts/build.ts`). */
export function ensureDrover(): string {
  if (existsSync(DROVER)) return DROVER;
  process.stderr.write("dist/drover is missing: building it first\n");
  const result = spawnSync(BUN, [join(ROOT, "scripts", "build.ts")], { cwd: ROOT, stdio: "inherit" });
  if (result.status !== 0) throw new Error("building dist/drover failed");
  return DROVER;
}

// ---- the table ------------------------------------------------------------------------------------

/** One benchmark's line. Figures are already formatted; `met` decides the mark. */
export interface Row {
  /** The benchmark's letter (a, b, ...), set by index.ts; notes are printed under it. */
  id?: string;
  name: string;
  measured: string;
  floor: string;
  ratio: string;
  target: string;
  met: boolean;
  /** Anything worth a second look (spread, side figures); printed under the table. */
  notes?: readonly string[];
}

export function ms(value: number): string {
  if (value < 1) return `${value.toFixed(3)} ms`;
  if (value < 10) return `${value.toFixed(2)} ms`;
  return `${value.toFixed(1)} ms`;
}

/** "12.3 ms (11.9–14.0)": median with min–max. */
export function spread(s: Stats): string {
  return `${ms(s.median)} (${ms(s.min).replace(" ms", "")}–${ms(s.max).replace(" ms", "")})`;
}

export function ratio(subject: number, floor: number): string {
  return floor > 0 ? `×${(subject / floor).toFixed(2)}` : "–";
}

export function formatTable(rows: readonly Row[]): string {
  const header = [
    "benchmark",
    "measured: median (min–max)",
    "floor: median (min–max)",
    "ratio",
    "target",
    "",
  ];
  const cells = rows.map((r) => [
    `${r.id ? `${r.id}. ` : ""}${r.name}`,
    r.measured,
    r.floor,
    r.ratio,
    r.target,
    r.met ? "ok" : "MISSED",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (cols: readonly string[]) =>
    cols
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const out = [line(header), line(widths.map((w) => "-".repeat(w)))];
  for (const c of cells) out.push(line(c));
  for (const r of rows) for (const note of r.notes ?? []) out.push(`  ${r.id ?? "-"}. ${note}`);
  return out.join("\n");
}

/**
 * "machine: 2 cpus, AMD EPYC, 23.5 GiB memory; bun 1.4.5; linux/x64; load 0.12". The load average
 * is there because other work on the machine moves every figure; the floors move with it.
 */
export function machineLine(): string {
  const list = cpus();
  const model = (list[0]?.model ?? "unknown cpu").replace(/\s+/g, " ").trim();
  const gib = (totalmem() / 1024 ** 3).toFixed(1);
  return `machine: ${list.length} cpus, ${model}, ${gib} GiB memory; bun ${Bun.version}; ${process.platform}/${process.arch}; load average ${loadavg()[0]!.toFixed(2)}`;
}
