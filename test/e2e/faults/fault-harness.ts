/**
 * Helpers shared by the fault-injection suite (test/e2e/faults/*.test.ts), on top of test/harness.ts
 * (which starts drover and writes runner configs): a private world per test (temp dir, its own
 * TMPDIR, a process marker), the configs of the misbehaving executors, and the end-of-test checks:
 * no process left, no temp dir left.
 */
import { expect } from "bun:test";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanEnv,
  customRunnerConfig,
  expectNoLeftovers,
  FIXTURES,
  jobJson,
  marker,
  processesWithEnv,
  type TempDir,
  tempDir,
  tsExecutable,
} from "../../harness.ts";

export const FAULTS = join(FIXTURES, "faults");
/** The misbehaving custom executor driver (see its header). */
export const DRIVER = join(FAULTS, "driver.sh");

export interface World extends Disposable {
  dir: TempDir;
  /** drover's TMPDIR: every temp dir drover and its plugins make goes here. */
  tmp: string;
  mark: ReturnType<typeof marker>;
  /** drover's environment: clean, the marker, TMPDIR, plus `extra`. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** A job file (jobJson with `overrides`), named `name`.json. */
  job(name: string, overrides?: Parameters<typeof jobJson>[0]): string;
  /** The end of every fault test: nothing we started runs, and drover left no temp dir. */
  expectClean(): Promise<void>;
}

export function world(): World {
  const dir = tempDir("drover-fault-");
  const tmp = join(dir.path, "tmp");
  mkdirSync(tmp);
  const mark = marker();
  return {
    dir,
    tmp,
    mark,
    env: (extra = {}) => cleanEnv(dir.path, { [mark.name]: mark.value, TMPDIR: tmp, ...extra }),
    job: (name, overrides = {}) =>
      dir.file(`${name}.json`, jobJson({ job_info: { name, project_name: "proj" }, ...overrides })),
    async expectClean() {
      await expectNoLeftovers(mark.entry);
      expect(readdirSync(tmp)).toEqual([]);
    },
    [Symbol.dispose]() {
      // A failed test must not leave its processes to the next one.
      for (const pid of processesWithEnv(mark.entry)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
      dir[Symbol.dispose]();
    },
  };
}

/**
 * A config with one custom runner whose four drivers are driver.sh (config/prepare/cleanup record
 * themselves into $FAULT_RECORD when it is set) and whose kill timeouts are 1 s; `custom` and
 * `runner` add or replace keys (see customRunnerConfig).
 */
export function customConfig(
  w: World,
  custom: Record<string, unknown> = {},
  runner: Record<string, unknown> = {},
  top = "",
): string {
  const drivers: Record<string, unknown> = {
    config_exec: DRIVER,
    config_args: ["config"],
    prepare_exec: DRIVER,
    prepare_args: ["prepare"],
    run_exec: DRIVER,
    cleanup_exec: DRIVER,
    cleanup_args: ["cleanup"],
    graceful_kill_timeout: 1,
    force_kill_timeout: 1,
    ...custom,
  };
  return customRunnerConfig(w.dir, drivers, { builds_dir: join(w.dir.path, "builds"), ...runner }, top);
}

/** A config with one runner on the fault executor plugin (test/fixtures/faults/fault-executor.ts). */
export function faultPluginConfig(w: World, top = ""): string {
  const plugin = tsExecutable(w.dir, "faulty", join(FAULTS, "fault-executor.ts"));
  return w.dir.file(
    "faulty.toml",
    `${top}\n[[runners]]\n  name = "faulty"\n  executor = "plugin"\n  builds_dir = "${w.dir.path}/builds"\n  [runners.plugin]\n    path = "${plugin}"\n`,
  );
}

/** The lines the driver fixtures recorded into $FAULT_RECORD ("config", "run build_script", ...). */
export function recorded(file: string): string[] {
  try {
    return readFileSync(file, "utf8").trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

/** The command line of a process, NUL-separated arguments joined by spaces. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** Processes carrying the marker whose command line contains `needle`. */
export function markedProcesses(w: World, needle: string): number[] {
  return processesWithEnv(w.mark.entry).filter((pid) => commandLine(pid).includes(needle));
}

/** The environment of a process as a map (empty when it is gone). */
export function environOf(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  try {
    for (const entry of readFileSync(`/proc/${pid}/environ`, "latin1").split("\0")) {
      const eq = entry.indexOf("=");
      if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
  } catch {
    // gone
  }
  return env;
}
