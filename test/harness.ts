/**
 * Test helpers: the compiled binary's path, a clean environment, temp dirs that clean themselves,
 * running drover (or any process) like a user does and reading what it prints, config files, waiting
 * for conditions (never for time), and checking that nothing we started is still running.
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
import { basename, join } from "node:path";
import { BUN, DROVER, ROOT } from "../scripts/paths.ts";

export { BUN, DROVER, ROOT };
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

/** How to start a process: its working directory, its whole environment, what it reads on stdin. */
export interface StartOptions {
  cwd: string;
  env: Record<string, string>;
  /** Written to its stdin, which is then closed; without it, stdin is /dev/null. */
  stdin?: string;
}

/**
 * A process running in the background, its stdout and stderr collected as they come. The one way
 * tests read what drover prints: `startDrover` to watch it and signal it, `drover` to run it to
 * its end. Dispose of it (`await using`) so that a failing test does not leave it running.
 */
export interface Running extends AsyncDisposable {
  readonly pid: number;
  /** Everything printed on stdout so far, as bytes (output need not be UTF-8) and as text. */
  stdoutBytes(): Buffer;
  stdout(): string;
  stderr(): string;
  /**
   * Waits until stdout contains `text` (or matches it); fails at once, with what it did print,
   * when the process closes its stdout without it.
   */
  waitForStdout(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** As waitForStdout, for stderr (drover's own log). */
  waitForStderr(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Sends `signal` to the process (not to its process group: drover handles its children). */
  kill(signal: NodeJS.Signals): void;
  /** The exit status, once stdout and stderr are read to their end. */
  readonly exited: Promise<number>;
}

/** A process run to its end: its exit status and everything it printed. */
export interface Finished {
  exitCode: number;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

/** One output stream, read to its end in the background. */
interface Collected {
  bytes(): Buffer;
  /** Resolves when the stream has ended. */
  readonly done: Promise<void>;
  readonly ended: boolean;
}

function collect(stream: ReadableStream<Uint8Array>): Collected {
  const chunks: Buffer[] = [];
  let joined: Buffer | undefined = Buffer.alloc(0);
  let ended = false;
  const done = (async () => {
    for await (const chunk of stream) {
      chunks.push(Buffer.from(chunk));
      joined = undefined;
    }
  })().finally(() => {
    ended = true;
  });
  return {
    bytes: () => {
      joined ??= Buffer.concat(chunks);
      return joined;
    },
    done,
    get ended() {
      return ended;
    },
  };
}

/** The last lines of `text`, for a failure message. */
function tail(text: string, lines = 20): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** Starts `command` (no shell) with its output collected; see Running. */
export function startProcess(command: string[], options: StartOptions): Running {
  const proc = Bun.spawn(command, {
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const name = basename(command[0] ?? "process");
  const out = collect(proc.stdout);
  const err = collect(proc.stderr);
  const printed = () =>
    `stdout ends:\n${tail(out.bytes().toString("utf8"))}\nstderr ends:\n${tail(err.bytes().toString("utf8"))}`;
  const waitForOutput = async (which: "stdout" | "stderr", text: string | RegExp, timeoutMs = 15_000) => {
    const stream = which === "stdout" ? out : err;
    const wanted = typeof text === "string" ? JSON.stringify(text) : String(text);
    const found = () =>
      typeof text === "string" ? stream.bytes().includes(text) : text.test(stream.bytes().toString("utf8"));
    try {
      // Also done when the stream has ended: then it will never come.
      await waitFor(`${wanted} on ${name}'s ${which}`, () => found() || stream.ended, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}; ${printed()}`);
    }
    if (!found()) throw new Error(`${name} closed its ${which} without printing ${wanted}; ${printed()}`);
  };
  return {
    pid: proc.pid,
    stdoutBytes: out.bytes,
    stdout: () => out.bytes().toString("utf8"),
    stderr: () => err.bytes().toString("utf8"),
    waitForStdout: (text, timeoutMs) => waitForOutput("stdout", text, timeoutMs),
    waitForStderr: (text, timeoutMs) => waitForOutput("stderr", text, timeoutMs),
    kill: (signal) => {
      proc.kill(signal);
    },
    exited: Promise.all([out.done, err.done]).then(() => proc.exited),
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

/** Runs `command` (no shell) to its end; see Finished. */
export async function runProcess(command: string[], options: StartOptions): Promise<Finished> {
  const running = startProcess(command, options);
  const exitCode = await running.exited;
  return {
    exitCode,
    stdout: running.stdout(),
    stdoutBytes: running.stdoutBytes(),
    stderr: running.stderr(),
  };
}

/** How to start drover: as any process, and which binary (a copy of dist/drover, say). */
export interface DroverOptions extends StartOptions {
  /** Default: dist/drover, built first when it is missing. */
  binary?: string;
}

/** Starts the compiled binary with `args` in the background, to watch its output and signal it. */
export function startDrover(args: string[], options: DroverOptions): Running {
  const { binary = ensureBuilt(), ...rest } = options;
  return startProcess([binary, ...args], rest);
}

/** Runs the compiled binary with `args` to its end. */
export async function drover(args: string[], options: DroverOptions): Promise<Finished> {
  const { binary = ensureBuilt(), ...rest } = options;
  return runProcess([binary, ...args], rest);
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

/**
 * The steps of a job to cancel: a script that marks its processes (STAGE_MARK=`markValue`),
 * leaves a background child in its group, prints "started" and sleeps; and an after_script that
 * waits (bounded) until no process carries the mark, then prints `stage gone: <CI_JOB_STATUS>` or
 * `stage left`. Run while drover and the plugin still run, it shows whether the plugin stopped the
 * whole stage.
 */
export function cancelledStageSteps(markValue: string): Record<string, unknown>[] {
  const gone = `gone() { ! grep -qsz '^STAGE_MARK=${markValue}$' /proc/[0-9]*/environ; }`;
  return [
    {
      name: "script",
      script: [`export STAGE_MARK=${markValue}`, "sleep 300 &", "echo started", "sleep 300"],
      timeout: 3600,
      when: "on_success",
    },
    {
      name: "after_script",
      script: [
        gone,
        "for i in $(seq 500); do gone && break; sleep 0.01; done",
        'if gone; then echo "stage gone: $CI_JOB_STATUS"; else echo "stage left"; fi',
      ],
      timeout: 3600,
      when: "always",
    },
  ];
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

/** A TOML value: strings, numbers, booleans and arrays of them, written as JSON writes them. */
function tomlValue(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * Writes `<executor>.toml` in `dir`: `top` (top-level keys, or whole tables such as `[hooks]`), then
 * one `[[runners]]` named after its executor with `runnerKeys` (`name` renames it) and, when given,
 * its `[runners.<executor>]` table. Returns the file's path.
 */
function writeRunnerConfig(
  dir: TempDir,
  executor: string,
  runnerKeys: Record<string, unknown>,
  executorTable: Record<string, unknown> | undefined,
  top: string,
): string {
  const lines = [top, "[[runners]]"];
  for (const [key, value] of Object.entries({ name: executor, executor, ...runnerKeys }))
    lines.push(`  ${key} = ${tomlValue(value)}`);
  if (executorTable) {
    lines.push(`  [runners.${executor}]`);
    for (const [key, value] of Object.entries(executorTable)) lines.push(`    ${key} = ${tomlValue(value)}`);
  }
  return dir.file(`${executor}.toml`, `${lines.join("\n")}\n`);
}

/**
 * custom.toml in `dir`: one custom executor runner named "custom". `drivers` is its
 * `[runners.custom]` table (config_exec, run_args, graceful_kill_timeout ...), `runnerKeys` the
 * runner's own keys (builds_dir, environment; `name` renames it), `top` comes before the runner
 * (top-level keys, a `[hooks]` table). Returns the file's path.
 *
 *   customRunnerConfig(dir, { run_exec: "/path/run.sh" }, { builds_dir: "/tmp/b" }, "concurrent = 1")
 */
export function customRunnerConfig(
  dir: TempDir,
  drivers: Record<string, unknown>,
  runnerKeys: Record<string, unknown> = {},
  top = "",
): string {
  return writeRunnerConfig(dir, "custom", runnerKeys, drivers, top);
}

/** shell.toml in `dir`: one shell executor runner named "shell"; the arguments as customRunnerConfig's. */
export function shellRunnerConfig(dir: TempDir, runnerKeys: Record<string, unknown> = {}, top = ""): string {
  return writeRunnerConfig(dir, "shell", runnerKeys, undefined, top);
}
