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
 *    children) is killed, so that the job's output pipes close and no process outlives its stage.
 *
 * After execa's lib/terminate/kill.js and timeout.js, with process groups added.
 */
import type { Readable, Writable } from "node:stream";
import { execa } from "execa";
import { DroverError } from "../errors.ts";
import { type Env, PROCESS_TAG_ENV, scrubEnv } from "./env.ts";

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
  /** The value of DROVER_PROCESS_TAG for this child (see env.ts); defaults to the core's tag. */
  tag?: string;
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

/** Process groups of children still running, for the exit-path sweep (killAllChildren). */
const liveGroups = new Set<number>();

let coreTag: string | undefined;
/** The tag every child of this process carries (see env.ts). */
export function processTag(): string {
  coreTag ??=
    process.env[PROCESS_TAG_ENV] ?? `drover-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  return coreTag;
}

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
  env[PROCESS_TAG_ENV] = options.tag ?? processTag();
  const subprocess = execa(options.command, options.args ?? [], {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env,
    extendEnv: false,
    detached: true,
    cleanup: false,
    buffer: false,
    reject: false,
    stdin: options.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    encoding: "buffer",
    stripFinalNewline: false,
    windowsHide: true,
  });
  const pid = subprocess.pid;
  if (pid !== undefined) liveGroups.add(pid);

  let timedOut = false;
  let canceled = false;
  let gaveUp = false;
  let stopping = false;
  let exited = false;
  const timers: ReturnType<typeof setTimeout>[] = [];
  let giveUp: (() => void) | undefined;

  const kill = () => {
    if (pid !== undefined) signalGroup(pid, "SIGKILL");
  };
  const stop = (reason: "timeout" | "cancel" | "shutdown") => {
    if (reason === "timeout" && !exited) timedOut = true;
    if (reason === "cancel" && !exited) canceled = true;
    if (stopping || exited || pid === undefined) return;
    stopping = true;
    signalGroup(pid, "SIGTERM");
    timers.push(
      setTimeout(() => {
        kill();
        timers.push(setTimeout(() => giveUp?.(), options.giveUpMs ?? DEFAULT_GIVE_UP_MS));
      }, options.graceMs),
    );
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
      resolve({ exitCode: code ?? undefined, signal: signal ?? undefined, startError: undefined });
    });
    subprocess.then((result) => {
      exited = true;
      if (pid !== undefined) signalGroup(pid, "SIGKILL");
      const neverRan =
        pid === undefined || (result.failed && result.exitCode === undefined && result.signal === undefined);
      // A process that never started has pipes that never end: close them for whoever reads them.
      if (neverRan) {
        subprocess.stdout?.destroy();
        subprocess.stderr?.destroy();
      }
      resolve({
        exitCode: result.exitCode,
        signal: result.signal,
        startError: neverRan
          ? new DroverError(
              "process",
              `could not start ${options.name}: ${startFailure(result, options.command)}`,
            )
          : undefined,
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
    stdout: subprocess.stdout as unknown as Readable,
    stderr: subprocess.stderr as unknown as Readable,
    stdin: (subprocess.stdin as unknown as Writable | null) ?? null,
    exited: exitedPromise,
    stop,
    kill,
  };
}

/** Why a spawn failed, in one line ("no such file", "permission denied") rather than execa's paragraph. */
function startFailure(
  result: { code?: string | undefined; shortMessage?: string | undefined; message?: string | undefined },
  command: string,
): string {
  switch (result.code) {
    case "ENOENT":
      return `${JSON.stringify(command)} does not exist (or its interpreter does not)`;
    case "EACCES":
      return `${JSON.stringify(command)} is not executable (permission denied)`;
    case "ENOEXEC":
      return `${JSON.stringify(command)} is not an executable format (missing #! line?)`;
    default:
      return (result.shortMessage ?? result.message ?? "unknown error").split("\n")[0] ?? "unknown error";
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
