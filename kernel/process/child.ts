/**
 * The one place that starts child processes (plugins, drivers, hooks, job scripts).
 *
 * Every child:
 *  - runs in its own process group (`detached`: setsid), so that a stop reaches everything it forked;
 *  - gets an explicit environment, scrubbed (env.ts), never the parent's by accident;
 *  - is spawned without a shell: arguments are passed as they are, nothing is interpolated;
 *  - is stopped by escalation: SIGTERM to the group, `graceMs` later SIGKILL to the group,
 *    `giveUpMs` after that drover stops waiting and says so (a process stuck in the kernel);
 *  - leaves nothing behind: when the group leader exits, whatever is left in its group (background
 *    children) is killed, so that the job's output pipes close and no process outlives its stage;
 *    and when something outside the group still holds the output pipes a moment later (a child
 *    that started its own session: `setsid`, a daemon), it is found by its process tag and killed
 *    too, so that the stage ends instead of waiting for it (test/e2e/faults/driver-faults.test.ts,
 *    "a background child in its own session"). One exception, asked for by name: `keepBackground`
 *    (a started job hook's background processes live until the job ends, GitHub's "async hooks");
 *  - runs the embedded JavaScript runtime (drover itself as `bun`) only when asked for by name:
 *    `embeddedRuntime`;
 *  - writes its output into real pipes (os-pipe.ts), as GitLab Runner's children do, not the
 *    sockets `stdio: "pipe"` gives: `echo x > /dev/stderr` works in a script. With `output:
 *    "combined"` its stdout and stderr are one pipe, so what it prints on both keeps its order
 *    (GitLab Runner gives a stage's script one writer for both).
 *
 * The escalation follows execa's lib/terminate/kill.js and timeout.js, with process groups added.
 * The spawn itself is node:child_process, not execa (the original design named execa): drover uses none of
 * what execa adds over it (buffering, piping, shell, npm paths, its promise) and has to own groups,
 * escalation, tags and scrubbing itself anyway, while execa costs every drover process 8 ms of
 * start-up and every spawn about 0.3 ms (scripts/bench/module-cost.ts; docs/performance.md, "the
 * spawn path"). A one-shot job starts two drover processes and up to a dozen children on its
 * serial path: that is what decided it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable, type Writable } from "node:stream";
import { DroverError } from "../errors.ts";
import { EMBEDDED_RUNTIME_ENV, type Env, JOB_TRACKING_ENV, PROCESS_TAG_ENV, scrubEnv } from "./env.ts";
import { osPipe, pipeReader } from "./os-pipe.ts";
import { ownedTempDir } from "./owned-temp-dirs.ts";
import { sweepTaggedProcesses } from "./sweep.ts";
import { processTag } from "./tag.ts";

export interface ChildOptions {
  /** For messages: "plugin shell", "config_exec", "hook /opt/start.sh". */
  name: string;
  command: string;
  args?: readonly string[];
  cwd?: string;
  /** The complete environment of the child (scrubbed again here). */
  env: Record<string, string | undefined>;
  /** Set after scrubbing: only the plugin launcher uses this, for the plugin-protocol variables. */
  protocolEnv?: Record<string, string>;
  stdin?: "ignore" | "pipe";
  /**
   * "separate" (default): stdout and stderr are two pipes. "combined": one pipe is the child's
   * stdout and stderr, read as `stdout` (`stderr` ends empty), so that their order is kept. Where
   * real pipes are not available (os-pipe.ts) both modes fall back to two sockets: read both
   * streams (mergeOutput) whatever the mode.
   */
  output?: "separate" | "combined";
  /** Stop the child after this long (milliseconds). */
  timeoutMs?: number;
  /** Stop the child when this aborts (cancel). */
  signal?: AbortSignal;
  /** SIGTERM → SIGKILL delay. */
  graceMs: number;
  /** SIGKILL → give up waiting. */
  giveUpMs?: number;
  /**
   * The value of DROVER_PROCESS_TAG for this child (see env.ts); defaults to a tag of its own below
   * this process's tag (`<tag>/<n>`), so that what it leaves behind can be told from its siblings'.
   */
  tag?: string;
  /**
   * The job this child works for (JobContext.containment): it gets DROVER_JOB_TRACKING_ID (set
   * last: nothing in `env` can change it) and is moved into the job's cgroup when there is one, so
   * that when the job ends drover stops it and everything it started (docs/security.md).
   */
  job?: JobProcesses;
  /**
   * What the child leaves running in the background when it exits keeps running: it is neither
   * killed with the child's process group nor swept by the child's tag. For a job hook's
   * `nohup agent &`, which GitHub's runner lets live until the job ends (its "async hooks"): give
   * the child `job` too, whose end stops it, since nothing else here will. Timeouts, cancel and
   * `stop` still reach the whole group while the child runs.
   *
   * The consequence: a background process may hold the output pipes open as long as it runs, so
   * `stdout` and `stderr` end anyway `outputHoldMs` after the child exited, as GitHub's runner
   * stops waiting for them (ProcessInvoker: 5 s after the exit). What was read until then is
   * delivered; what comes later is still read, and dropped, so that the background process never
   * writes into a closed pipe (SIGPIPE would kill it).
   */
  keepBackground?: boolean;
  /** With `keepBackground`: how long the output may stay open after the child exited. */
  outputHoldMs?: number;
  /**
   * Runs `args` (a JavaScript file and its arguments) with the JavaScript runtime embedded in this
   * executable: `command` must be `process.execPath` (drover itself), and the child gets
   * BUN_BE_BUN=1, which makes the compiled binary act as `bun`. Why that is safe, although every
   * other child has BUN_BE_BUN scrubbed: it is set here, after scrubbing, for this one child, which
   * is started on purpose to run the given file; the runtime starts isolated from its working
   * directory (RUNTIME_ISOLATION); and a preloaded line removes BUN_BE_BUN from the script's own
   * environment before the script runs, so that a Bun-compiled program it starts (drover included)
   * is that program, not `bun`. `"test"`: the runtime's test runner instead, `args` its arguments
   * (`drover plugin test`).
   */
  embeddedRuntime?: true | "test";
}

/** Where a job's processes belong (the protocol's JobContainment has the same shape). */
export interface JobProcesses {
  trackingId: string;
  /** A cgroup v2 directory, or "" when the host gives drover none. */
  cgroup: string;
}

/** How a child ended. Exactly one of `exitCode`/`signal` is set unless it never started or was given up on. */
export interface ChildExit {
  exitCode: number | undefined;
  signal: NodeJS.Signals | undefined;
  /** Stopped because `timeoutMs` passed. */
  timedOut: boolean;
  /** Stopped because `signal` aborted. */
  canceled: boolean;
  /** Still not gone `giveUpMs` after SIGKILL: drover stopped waiting for it. */
  gaveUp: boolean;
  /** Set when the process could not be started at all (ENOENT, EACCES, ...). */
  startError: DroverError | undefined;
  durationMs: number;
}

export interface Child {
  readonly pid: number | undefined;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly stdin: Writable | null;
  readonly exited: Promise<ChildExit>;
  /** Starts the SIGTERM → SIGKILL escalation now (idempotent). */
  stop(reason: "timeout" | "cancel" | "shutdown"): void;
  /** SIGKILL the whole group now. */
  kill(): void;
}

const DEFAULT_GIVE_UP_MS = 10_000;
/** `keepBackground`: GitHub's runner waits 5 s for the output after the exit (ProcessInvoker). */
const DEFAULT_OUTPUT_HOLD_MS = 5_000;
/**
 * After the group leader exited and its group was killed, how long the output pipes may stay open
 * before drover looks for processes outside the group that hold them (normally they close within
 * a millisecond; a pipe still open only because its reader is behind costs one harmless look).
 */
const PIPE_HOLD_MS = 100;

/** Numbers the default tags of this process's children. */
let childCount = 0;

export { adoptProcessTag, processTag } from "./tag.ts";

/** Process groups of children still running, for the exit-path sweep (killAllChildren). */
const liveGroups = new Set<number>();

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone. EPERM cannot happen for our own children.
  }
}

export function startChild(options: ChildOptions): Child {
  const started = Date.now();
  const env: Env = scrubEnv(options.env);
  Object.assign(env, options.protocolEnv);
  const tag = options.tag ?? `${processTag()}/${++childCount}`;
  env[PROCESS_TAG_ENV] = tag;
  if (options.job?.trackingId) env[JOB_TRACKING_ENV] = options.job.trackingId;
  let spawned: Spawned;
  try {
    let args = options.args ?? [];
    if (options.embeddedRuntime) {
      args = embeddedRuntimeArgs(options.command, args, options.embeddedRuntime);
      // After scrubbing, for this child only (see ChildOptions.embeddedRuntime).
      env[EMBEDDED_RUNTIME_ENV] = "1";
    }
    spawned = startProcess(options, args, env);
  } catch (err) {
    // A spawn that fails at once throws instead of reporting a failed start (under Bun: E2BIG, an
    // environment too large for execve; faults suite, bad-input.test.ts "10 MiB of variables"):
    // report it like any start failure.
    return notStarted(options, env, err, started);
  }
  const pid = spawned.subprocess.pid;
  if (options.job?.cgroup && pid !== undefined) joinCgroup(options.job.cgroup, pid);
  return supervise(spawned, options, tag, started);
}

/** A started process and the read ends of its output. */
interface Spawned {
  subprocess: ChildProcess;
  stdout: Readable;
  stderr: Readable;
}

function startProcess(options: ChildOptions, args: readonly string[], env: Env): Spawned {
  const spawnWith = (stdout: "pipe" | number, stderr: "pipe" | number) =>
    spawn(options.command, args, {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env,
      detached: true,
      stdio: [options.stdin ?? "ignore", stdout, stderr],
      windowsHide: true,
    });
  const out = osPipe();
  const err = out && options.output !== "combined" ? osPipe() : undefined;
  if (out === undefined || (options.output !== "combined" && err === undefined)) {
    if (out) for (const fd of out) closeSync(fd);
    const subprocess = spawnWith("pipe", "pipe");
    return { subprocess, stdout: subprocess.stdout as Readable, stderr: subprocess.stderr as Readable };
  }
  let subprocess: ChildProcess;
  try {
    subprocess = spawnWith(out[1], err?.[1] ?? out[1]);
  } catch (error) {
    closeSync(out[0]);
    if (err) closeSync(err[0]);
    throw error;
  } finally {
    // The child has its copies of the write ends (or none): the pipes end when the child's side
    // is closed, by the child and whatever it started.
    closeSync(out[1]);
    if (err) closeSync(err[1]);
  }
  return {
    subprocess,
    stdout: pipeReader(out[0]),
    stderr: err ? pipeReader(err[0]) : Readable.from([]),
  };
}

function supervise(spawned: Spawned, options: ChildOptions, tag: string, started: number): Child {
  const { subprocess } = spawned;
  const pid = subprocess.pid;
  if (pid !== undefined) liveGroups.add(pid);
  const held = options.keepBackground
    ? { stdout: holdableOutput(spawned.stdout), stderr: holdableOutput(spawned.stderr) }
    : undefined;

  let timedOut = false;
  let canceled = false;
  let gaveUp = false;
  let stopping = false;
  let exited = false;
  const timers: ReturnType<typeof setTimeout>[] = [];
  let giveUp: (() => void) | undefined;

  let givingUp = false;
  const startGiveUp = () => {
    if (givingUp) return;
    givingUp = true;
    timers.push(setTimeout(() => giveUp?.(), options.giveUpMs ?? DEFAULT_GIVE_UP_MS));
  };
  const kill = () => {
    if (pid === undefined || exited) return;
    signalGroup(pid, "SIGKILL");
    // A process stuck in the kernel survives SIGKILL: whoever awaits `exited` must not hang on it.
    startGiveUp();
  };
  const stop = (reason: "timeout" | "cancel" | "shutdown") => {
    if (reason === "timeout" && !exited) timedOut = true;
    if (reason === "cancel" && !exited) canceled = true;
    if (stopping || exited || pid === undefined) return;
    stopping = true;
    signalGroup(pid, "SIGTERM");
    timers.push(setTimeout(() => kill(), options.graceMs));
  };

  if (options.timeoutMs !== undefined) timers.push(setTimeout(() => stop("timeout"), options.timeoutMs));
  const onAbort = () => stop("cancel");
  if (options.signal?.aborted) stop("cancel");
  else options.signal?.addEventListener("abort", onAbort, { once: true });

  // The process is gone when it exits, not when its pipes close (something it started may hold
  // them): take its status from the 'exit' event, and kill what is left of its group right away.
  const finished = new Promise<{
    exitCode: number | undefined;
    signal: NodeJS.Signals | undefined;
    startError: DroverError | undefined;
  }>((resolve) => {
    subprocess.once("exit", (code, signal) => {
      exited = true;
      if (held) {
        // What it left running stays (keepBackground); the output ends when the pipes close, or
        // after the hold if something still holds them.
        setTimeout(() => {
          held.stdout.cut();
          held.stderr.cut();
        }, options.outputHoldMs ?? DEFAULT_OUTPUT_HOLD_MS).unref();
      } else {
        if (pid !== undefined) signalGroup(pid, "SIGKILL");
        sweepPipeHolders(spawned.stdout, spawned.stderr, tag);
      }
      resolve({ exitCode: code ?? undefined, signal: signal ?? undefined, startError: undefined });
    });
    // 'error' after a successful start (a failed kill) changes nothing: 'exit' still comes. Without
    // a pid, the process never started (ENOENT, EACCES, a missing cwd): its pipes never end, so
    // close them for whoever reads them.
    subprocess.on("error", (err: NodeJS.ErrnoException) => {
      if (pid !== undefined) return;
      exited = true;
      spawned.stdout.destroy();
      spawned.stderr.destroy();
      resolve({
        exitCode: undefined,
        signal: undefined,
        startError: new DroverError(
          "process",
          `could not start ${options.name}: ${startFailure(err, options)}`,
        ),
      });
    });
  });
  const exitedPromise = Promise.race([
    finished,
    new Promise<{ exitCode: undefined; signal: undefined; startError: undefined }>((resolve) => {
      giveUp = () => {
        gaveUp = true;
        resolve({ exitCode: undefined, signal: undefined, startError: undefined });
      };
    }),
  ]).then((end): ChildExit => {
    for (const timer of timers) clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    if (pid !== undefined) liveGroups.delete(pid);
    return { ...end, timedOut, canceled, gaveUp, durationMs: Date.now() - started };
  });

  return {
    pid,
    stdout: held?.stdout.output ?? spawned.stdout,
    stderr: held?.stderr.output ?? spawned.stderr,
    stdin: subprocess.stdin ?? null,
    exited: exitedPromise,
    stop,
    kill,
  };
}

/**
 * One output pipe of a `keepBackground` child, as its reader sees it: the same bytes, with
 * back-pressure, until the pipe ends or `cut()` is called. From then on the pipe is still read and
 * what comes is dropped, so that a background process that writes to it never meets a closed pipe;
 * the same when the reader goes away (destroys the stream) first.
 */
function holdableOutput(pipe: Readable): { output: Readable; cut: () => void } {
  const output = new PassThrough();
  let cut = false;
  const drop = () => {
    cut = true;
    pipe.resume();
  };
  const end = () => {
    if (cut) return;
    drop();
    output.end();
  };
  pipe.on("data", (chunk: Uint8Array) => {
    if (!cut && !output.write(chunk)) pipe.pause();
  });
  output.on("drain", () => {
    if (!cut) pipe.resume();
  });
  pipe.once("close", end);
  pipe.once("error", (err) => {
    if (cut) return;
    drop();
    output.destroy(err);
  });
  output.once("close", () => {
    if (!cut) drop();
  });
  return { output, cut: end };
}

/**
 * Bun's start-up reads, from the working directory, a `.env` (into the script's environment) and a
 * `bunfig.toml` (whose `preload` runs code before the script), and installs missing packages from
 * the network. A script run with `embeddedRuntime` is trusted, its working directory need not be (a
 * job hook runs in the project's directory): none of that may come from there. Node, which GitHub's
 * runner runs hook scripts with, does none of it either.
 */
const RUNTIME_ISOLATION = ["--no-env-file", "--config=/dev/null", "--no-install"];

/** The file preloaded into an `embeddedRuntime` child; made at first use, removed at exit. */
let runtimePreload: string | undefined;

/**
 * The arguments that make this executable, started with BUN_BE_BUN=1, run `args` as `node args`
 * would, or run its test runner with `args`. The sub-command comes first: after options, `test`
 * would name a package.json script.
 */
function embeddedRuntimeArgs(command: string, args: readonly string[], mode: true | "test"): string[] {
  if (command !== process.execPath) {
    throw new Error(
      `embeddedRuntime runs this executable only (${JSON.stringify(process.execPath)}), not ${JSON.stringify(command)}`,
    );
  }
  if (runtimePreload === undefined || !existsSync(runtimePreload)) {
    const dir = ownedTempDir("drover-runtime-");
    const file = join(dir, "forget-be-bun.js");
    writeFileSync(file, `delete process.env.${EMBEDDED_RUNTIME_ENV};\n`, { mode: 0o600 });
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    runtimePreload = file;
  }
  const isolated = [...RUNTIME_ISOLATION, "--preload", runtimePreload];
  return mode === "test" ? ["test", ...isolated, ...args] : [...isolated, ...args];
}

/** A child that could not be started at all: closed pipes, and an exit that says why. */
function notStarted(options: ChildOptions, env: Env, err: unknown, started: number): Child {
  const empty = () => Readable.from([]);
  const exit: ChildExit = {
    exitCode: undefined,
    signal: undefined,
    timedOut: false,
    canceled: false,
    gaveUp: false,
    startError: new DroverError(
      "process",
      `could not start ${options.name}: ${spawnFailure(options, env, err)}`,
      {},
      { cause: err },
    ),
    durationMs: Date.now() - started,
  };
  return {
    pid: undefined,
    stdout: empty(),
    stderr: empty(),
    stdin: null,
    exited: Promise.resolve(exit),
    stop() {},
    kill() {},
  };
}

/**
 * Moves a child into a cgroup, right after it started: it has exec'd and is about to read its
 * program, so what it forks from now on lands in the cgroup too. (A stage script, which runs the
 * job's own code, joins its job's cgroup itself as its first command: no fork can come earlier.)
 * Best effort: a cgroup that went away meanwhile leaves the child where it is; its tracking id
 * still marks it.
 */
function joinCgroup(cgroup: string, pid: number): void {
  try {
    writeFileSync(`${cgroup}/cgroup.procs`, String(pid));
  } catch {
    // gone, or not ours to write: the tracking id remains
  }
}

/** Linux's limit on one argument or environment entry (MAX_ARG_STRLEN), NUL included. */
const MAX_ARG_STRLEN = 128 * 1024;

/** Why a spawn threw: most often an environment too large for execve (E2BIG). */
function spawnFailure(options: ChildOptions, env: Env, err: unknown): string {
  let total = 0;
  let largest = { name: "", bytes: 0 };
  for (const [key, value] of Object.entries(env)) {
    const bytes = Buffer.byteLength(key) + Buffer.byteLength(value) + 2;
    total += bytes;
    if (bytes > largest.bytes) largest = { name: key, bytes };
  }
  for (const arg of [options.command, ...(options.args ?? [])]) total += Buffer.byteLength(arg) + 1;
  const kib = (n: number) => `${Math.ceil(n / 1024)} KiB`;
  if (largest.bytes > MAX_ARG_STRLEN) {
    return `its environment variable ${largest.name} is ${kib(largest.bytes)}; the system allows at most ${kib(MAX_ARG_STRLEN)} per variable (E2BIG)`;
  }
  if (total > 1024 * 1024) {
    return `its environment and arguments take ${kib(total)}; the system allows about 2 MiB in all (E2BIG)`;
  }
  // Under Bun, the other failures of posix_spawn can throw here too (ENOEXEC: no #! line).
  return err instanceof Error ? startFailure(err, options) : String(err);
}

/**
 * The leader is gone and its group killed: if the output pipes are still open a moment later,
 * something outside the group holds them (it called setsid). It still carries the child's tag:
 * kill what carries it, again while that finds something and the pipes stay open.
 */
function sweepPipeHolders(stdout: Readable | null, stderr: Readable | null, tag: string): void {
  const open = () => [stdout, stderr].some((stream) => stream !== null && !stream.closed);
  if (!open()) return;
  const look = () => {
    if (open() && sweepTaggedProcesses(tag) > 0) setTimeout(look, PIPE_HOLD_MS).unref();
  };
  setTimeout(look, PIPE_HOLD_MS).unref();
}

/** Why a spawn failed, in one line ("no such file", "permission denied"). */
function startFailure(err: NodeJS.ErrnoException, options: ChildOptions): string {
  const command = JSON.stringify(options.command);
  switch (err.code) {
    case "ENOENT":
      if (options.cwd !== undefined && !isDirectory(options.cwd)) {
        return `its working directory ${JSON.stringify(options.cwd)} does not exist`;
      }
      return `${command} does not exist (or its interpreter does not)`;
    case "EACCES":
      return `${command} is not executable (permission denied)`;
    case "ENOEXEC":
      return `${command} is not an executable format (missing #! line?)`;
    default:
      return (err.message || "unknown error").split("\n")[0] ?? "unknown error";
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** SIGKILL every child group this process started and that is still running (exit paths). */
export function killAllChildren(): void {
  for (const pid of liveGroups) signalGroup(pid, "SIGKILL");
  liveGroups.clear();
}

/** How many children are running now (tests, metrics). */
export function liveChildCount(): number {
  return liveGroups.size;
}
