/**
 * Memory and CPU of a running process, read from /proc (Linux) while it runs: what the log
 * throughput and concurrency benchmarks say about the core's memory, and how the CPU is split
 * between the core and its plugin.
 *
 * VmHWM is the kernel's own peak of the resident set, so polling it misses nothing but the last
 * few milliseconds before exit (after which /proc has nothing to read). VmRSS is the resident set
 * now. CPU is utime + stime.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { PLUGIN_MODE_COMMAND } from "../../src/plugin/spec.ts";

export interface ProcSample {
  /** VmRSS: resident now, KiB. */
  rssKiB: number;
  /** VmHWM: peak resident so far, KiB. */
  hwmKiB: number;
  /** User + system CPU so far, ms. */
  cpuMs: number;
}

const CLOCK_TICKS = (() => {
  const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const ticks = Number.parseInt(String(out.stdout), 10);
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
})();

/** One reading of `pid`; undefined once it is gone (or a zombie, which has no memory left). */
export function readProc(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const kib = (key: string) => {
      const match = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status);
      return match ? Number(match[1]) : undefined;
    };
    const rssKiB = kib("VmRSS");
    const hwmKiB = kib("VmHWM");
    if (rssKiB === undefined || hwmKiB === undefined) return undefined;
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { rssKiB, hwmKiB, cpuMs: (ticks * 1000) / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

/** The direct children of `pid` (every thread's), as listed by the kernel. */
function childrenOf(pid: number): number[] {
  const pids: number[] = [];
  try {
    for (const line of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" "))
      if (line.trim()) pids.push(Number(line));
  } catch {
    // gone
  }
  return pids;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

export interface WatchResult {
  /** The core's last reading before it exited (or before stop()). */
  core: ProcSample | undefined;
  /** Its plugin processes' (`drover __plugin ...`) last readings, summed CPU and the largest peak. */
  plugins: { count: number; cpuMs: number; hwmKiB: number };
}

/**
 * Polls `pid` (and its plugin children) every `intervalMs` until stop(). Plugins are found among
 * the direct children by their command line.
 */
export class ProcWatch {
  readonly #pid: number;
  readonly #timer: ReturnType<typeof setInterval>;
  #core: ProcSample | undefined;
  readonly #plugins = new Map<number, ProcSample>();
  readonly #notPlugins = new Set<number>();

  constructor(pid: number, intervalMs = 10) {
    this.#pid = pid;
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Reads now; returns the core's reading (undefined once it is gone). */
  sample(): ProcSample | undefined {
    const core = readProc(this.#pid);
    if (!core) return undefined;
    this.#core = core;
    for (const child of childrenOf(this.#pid)) {
      if (this.#notPlugins.has(child)) continue;
      if (!this.#plugins.has(child) && !commandLine(child).includes(` ${PLUGIN_MODE_COMMAND} `)) {
        this.#notPlugins.add(child);
        continue;
      }
      const reading = readProc(child);
      if (reading) this.#plugins.set(child, reading);
    }
    return core;
  }

  stop(): WatchResult {
    clearInterval(this.#timer);
    this.sample();
    const plugins = [...this.#plugins.values()];
    return {
      core: this.#core,
      plugins: {
        count: plugins.length,
        cpuMs: plugins.reduce((sum, p) => sum + p.cpuMs, 0),
        hwmKiB: Math.max(0, ...plugins.map((p) => p.hwmKiB)),
      },
    };
  }
}

export function mib(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}
