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
 *    "a background child in its own session").
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
import { statSync, writeFileSync } from "node:fs";
import { Readable, type Writable } from "node:stream";
import { DroverError } from "../errors.ts";
import { type Env, JOB_TRACKING_ENV, PROCESS_TAG_ENV, scrubEnv } from "./env.ts";
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
  let subprocess: ChildProcess;
  try {
    subprocess = startProcess(options, env);
  } catch (err) {
    // A spawn that fails at once throws instead of reporting a failed start (under Bun: E2BIG, an
    // environment too large for execve; faults suite, bad-input.test.ts "10 MiB of variables"):
    // report it like any start failure.
    return notStarted(options, env, err, started);
  }
  if (options.job?.cgroup && subprocess.pid !== undefined) joinCgroup(options.job.cgroup, subprocess.pid);
  return supervise(subprocess, options, tag, started);
}

function startProcess(options: ChildOptions, env: Env): ChildProcess {
  return spawn(options.command, options.args ?? [], {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env,
    detached: true,
    stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
    windowsHide: true,
  });
}

function supervise(subprocess: ChildProcess, options: ChildOptions, tag: string, started: number): Child {
  const pid = subprocess.pid;
  if (pid !== undefined) liveGroups.add(pid);

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
      if (pid !== undefined) signalGroup(pid, "SIGKILL");
      sweepPipeHolders(subprocess.stdout, subprocess.stderr, tag);
      resolve({ exitCode: code ?? undefined, signal: signal ?? undefined, startError: undefined });
    });
    // 'error' after a successful start (a failed kill) changes nothing: 'exit' still comes. Without
    // a pid, the process never started (ENOENT, EACCES, a missing cwd): its pipes never end, so
    // close them for whoever reads them.
    subprocess.on("error", (err: NodeJS.ErrnoException) => {
      if (pid !== undefined) return;
      exited = true;
      subprocess.stdout?.destroy();
      subprocess.stderr?.destroy();
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
    stdout: subprocess.stdout as Readable,
    stderr: subprocess.stderr as Readable,
    stdin: subprocess.stdin ?? null,
    exited: exitedPromise,
    stop,
    kill,
  };
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
