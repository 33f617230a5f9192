/**
 * Test helpers: the compiled binary's path, a clean environment, temp dirs that clean themselves,
 * running drover like a user does, waiting for conditions (never for time), and checking that
 * nothing we started is still running.
 */
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..");
export const DROVER = join(ROOT, "dist", "drover");
export const BUN = process.execPath;
export const FIXTURES = join(ROOT, "test", "fixtures");

/** Builds dist/drover once if `bun test` was run without `npm test` (which builds first). */
export function ensureBuilt(): string {
  if (!existsSync(DROVER)) {
    const result = Bun.spawnSync([BUN, join(ROOT, "scripts", "build.ts")], {
      cwd: ROOT,
      stdout: "inherit",
      stderr: "inherit",
    });
    if (result.exitCode !== 0) throw new Error("building dist/drover failed");
  }
  return DROVER;
}

export interface TempDir extends Disposable {
  path: string;
  file(name: string, content: string, mode?: number): string;
}

/** A fresh directory, removed on dispose (`using dir = tempDir()`). */
export function tempDir(prefix = "drover-test-"): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    file(name, content, mode = 0o644) {
      const file = join(path, name);
      writeFileSync(file, content);
      chmodSync(file, mode);
      return file;
    },
    [Symbol.dispose]() {
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** A minimal environment: no config, no inherited DROVER_* or BUN_* variables, HOME/XDG in `home`. */
export function cleanEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local", "share"),
    LANG: "C.UTF-8",
    ...extra,
  };
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the compiled binary (or a copy of it, `options.binary`) to completion. */
export async function drover(
  args: string[],
  options: { cwd: string; env: Record<string, string>; stdin?: string; binary?: string },
): Promise<RunResult> {
  const proc = Bun.spawn([options.binary ?? ensureBuilt(), ...args], {
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { exitCode, stdout, stderr };
}

/** Starts the compiled binary and returns the running process (for signals). */
export function startDrover(args: string[], options: { cwd: string; env: Record<string, string> }) {
  return Bun.spawn([ensureBuilt(), ...args], {
    cwd: options.cwd,
    env: options.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** Polls `condition` until it is true; fails after `timeoutMs` with `what`. */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** Pids of live processes whose environment contains `needle` (e.g. a marker variable a test set). */
export function processesWithEnv(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, "latin1");
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue; // zombie: already dead
      if (environ.split("\0").includes(needle)) found.push(Number(entry));
    } catch {
      // gone, or not readable
    }
  }
  return found;
}

/** A unique marker for one test: put it in drover's environment, then look for leftovers with it. */
export function marker(): { name: string; value: string; entry: string } {
  const value = `t${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  return { name: "DROVER_TEST_MARKER", value, entry: `DROVER_TEST_MARKER=${value}` };
}

/** Asserts (by polling briefly: exits are asynchronous) that no process carries the marker. */
export async function expectNoLeftovers(entry: string): Promise<void> {
  await waitFor(`no process with ${entry} left`, () => processesWithEnv(entry).length === 0, 5_000);
}

/**
 * An executable wrapper that runs a TypeScript fixture with the repo's bun, for plugins written
 * with the SDK (a plugin must be one executable file).
 */
export function tsExecutable(dir: TempDir, name: string, script: string, args: string[] = []): string {
  const quoted = [BUN, script, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  return dir.file(name, `#!/bin/sh\nexec ${quoted} "$@"\n`, 0o755);
}

/** A GitLab job payload with the given script lines (and overrides). */
export function jobJson(overrides: Record<string, unknown> & { script?: string[] } = {}): string {
  const { script = ["echo hello"], ...rest } = overrides;
  return JSON.stringify({
    id: 1001,
    token: "job-token-xyz",
    job_info: { name: "test-job", stage: "test", project_id: 7, project_name: "proj" },
    git_info: undefined,
    runner_info: { timeout: 3600 },
    variables: [
      { key: "GIT_STRATEGY", value: "none", public: true },
      { key: "CI_PROJECT_PATH", value: "group/proj", public: true },
    ],
    steps: [{ name: "script", script, timeout: 3600, when: "on_success", allow_failure: false }],
    ...rest,
  });
}
