/**
 * Helpers shared by the fault-injection suite (test/e2e/faults/*.test.ts), on top of test/harness.ts:
 * a private world per test (temp dir, its own TMPDIR, a process marker), drover running in the
 * background with its output kept as bytes, config files for the executors, and the end-of-test
 * checks: no process left, no temp dir left.
 */
import { expect } from "bun:test";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanEnv,
  ensureBuilt,
  expectNoLeftovers,
  FIXTURES,
  jobJson,
  marker,
  processesWithEnv,
  type TempDir,
  tempDir,
  tsExecutable,
  waitFor,
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

/** drover running in the background: output collected as it comes, as bytes and text. */
export interface Running {
  proc: ReturnType<typeof Bun.spawn>;
  readonly pid: number;
  stdout(): string;
  stdoutBytes(): Buffer;
  stderr(): string;
  /** Waits until stdout contains `text`. */
  waitForStdout(text: string, timeoutMs?: number): Promise<void>;
  /** The exit status, once stdout and stderr are read to their end. */
  exited: Promise<number>;
}

export function spawnDrover(args: string[], options: { cwd: string; env: Record<string, string> }): Running {
  const proc = Bun.spawn([ensureBuilt(), ...args], {
    cwd: options.cwd,
    env: options.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const read = async (stream: ReadableStream<Uint8Array>, into: Buffer[]) => {
    for await (const chunk of stream) into.push(Buffer.from(chunk));
  };
  const reading = Promise.all([
    read(proc.stdout as ReadableStream<Uint8Array>, out),
    read(proc.stderr as ReadableStream<Uint8Array>, err),
  ]);
  const stdoutBytes = () => Buffer.concat(out);
  return {
    proc,
    pid: proc.pid,
    stdoutBytes,
    stdout: () => stdoutBytes().toString("utf8"),
    stderr: () => Buffer.concat(err).toString("utf8"),
    waitForStdout: (text, timeoutMs = 15_000) =>
      waitFor(`${JSON.stringify(text)} on drover's stdout`, () => stdoutBytes().includes(text), timeoutMs),
    exited: reading.then(() => proc.exited),
  };
}

/** Runs drover to its end; output as bytes and text. */
export async function runDrover(
  args: string[],
  options: { cwd: string; env: Record<string, string> },
): Promise<{ exitCode: number; stdout: string; stdoutBytes: Buffer; stderr: string }> {
  const running = spawnDrover(args, options);
  const exitCode = await running.exited;
  return { exitCode, stdout: running.stdout(), stdoutBytes: running.stdoutBytes(), stderr: running.stderr() };
}

/** A TOML value (strings, numbers, booleans, arrays of them). */
function toml(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * A config with one custom runner whose four drivers are driver.sh (config/prepare/cleanup record
 * themselves into $FAULT_RECORD when it is set); `custom` and `runner` add or replace keys.
 */
export function customConfig(
  w: World,
  custom: Record<string, unknown> = {},
  runner: Record<string, unknown> = {},
  top = "",
): string {
  const settings: Record<string, unknown> = {
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
  const lines = [top, "[[runners]]", '  name = "custom"', '  executor = "custom"'];
  for (const [key, value] of Object.entries({ builds_dir: join(w.dir.path, "builds"), ...runner }))
    lines.push(`  ${key} = ${toml(value)}`);
  lines.push("  [runners.custom]");
  for (const [key, value] of Object.entries(settings)) lines.push(`    ${key} = ${toml(value)}`);
  return w.dir.file("custom.toml", `${lines.join("\n")}\n`);
}

/** A config with one shell runner. */
export function shellConfig(w: World, runner: Record<string, unknown> = {}, top = ""): string {
  const lines = [top, "[[runners]]", '  name = "shell"', '  executor = "shell"'];
  for (const [key, value] of Object.entries(runner)) lines.push(`  ${key} = ${toml(value)}`);
  return w.dir.file("shell.toml", `${lines.join("\n")}\n`);
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
