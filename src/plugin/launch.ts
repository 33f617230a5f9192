/**
 * Starting a plugin process and reading its handshake line (docs/plugins.md), with a bounded wait and a
 * distinct error for each way it can go wrong: timeout, exited before the handshake (with its
 * stderr tail), malformed line, wrong core protocol version, no common app protocol version.
 */
import { rmSync } from "node:fs";
import { DroverError } from "../../kernel/errors.ts";
import { type Child, type ChildExit, processTag, startChild } from "../../kernel/process/child.ts";
import { ownedTempDir } from "../../kernel/process/owned-temp-dirs.ts";
import {
  APP_PROTOCOL_VERSIONS,
  type Handshake,
  type HandshakeProblem,
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
  PROTOCOL_VERSIONS_ENV,
  parseHandshake,
  SOCKET_DIR_ENV,
} from "../../kernel/protocol/handshake.ts";
import { LineReader, readLines } from "../log/line-reader.ts";
import type { Logger } from "../log/logger.ts";
import { forwardPluginStderr } from "../log/plugin-stderr.ts";
import { type LaunchTarget, prepareLaunch } from "./install/trust.ts";
import { removeAnnouncedSocket } from "./post-mortem.ts";
import type { PluginSpec } from "./spec.ts";

/** The longest line of a plugin's stdout that is kept (the handshake line is far shorter). */
const STDOUT_LINE_BYTES = 64 * 1024;

/** After Shutdown (or SIGTERM), how long a plugin has before SIGKILL (go-plugin uses 2 s too). */
export const PLUGIN_GRACE_MS = 2_000;

export interface LaunchedPlugin {
  child: Child;
  handshake: Handshake;
  /** The owner-only directory given to the plugin for its socket; removed when it stops. */
  socketDir: string;
  /** This instance's process tag (see process/sweep.ts). */
  tag: string;
  stderrTail(): string;
}

let launches = 0;

export async function launchPlugin(
  spec: PluginSpec,
  options: { logger: Logger; handshakeTimeoutMs: number },
): Promise<LaunchedPlugin> {
  // mkdtemp creates the directory 0700: only drover's user can reach the socket. Its name says
  // which process owns it, so a later drover removes it if this one is SIGKILLed
  // (kernel/process/owned-temp-dirs.ts). A plugin of several files is copied into it to run.
  const socketDir = ownedTempDir("drover-plugin-");
  let target: LaunchTarget = { command: spec.command, release() {} };
  if (spec.trust.kind !== "builtin") {
    try {
      target = prepareLaunch(
        spec.name,
        spec.command,
        spec.trust.kind === "installed" ? spec.trust.integrity : undefined,
        socketDir,
        { copy: spec.runtime === "drover" },
      );
    } catch (err) {
      rmSync(socketDir, { recursive: true, force: true });
      throw err;
    }
  }
  const tag = `${processTag()}/${spec.name}-${++launches}`;
  let child: Child;
  try {
    child = startChild({
      name: `plugin "${spec.name}"`,
      // A script plugin runs on this executable's runtime (ChildOptions.embeddedRuntime).
      ...(spec.runtime === "drover"
        ? { command: process.execPath, args: [target.command, ...spec.args], embeddedRuntime: true }
        : { command: target.command, args: spec.args }),
      env: process.env,
      protocolEnv: {
        [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE,
        [PROTOCOL_VERSIONS_ENV]: APP_PROTOCOL_VERSIONS.join(","),
        [SOCKET_DIR_ENV]: socketDir,
      },
      graceMs: PLUGIN_GRACE_MS,
      tag,
    });
  } catch (err) {
    target.release();
    rmSync(socketDir, { recursive: true, force: true });
    throw launchError(spec, `could not start plugin "${spec.name}": ${DroverError.from(err).shortMessage}`);
  }
  const log = options.logger.child({ plugin: spec.name });
  const stderr = forwardPluginStderr(child.stderr, options.logger, spec.name);

  // The handshake is the first line; go-plugin copies a plugin's later stdout into the host's log,
  // and so do we, line by line, each cut at STDOUT_LINE_BYTES (a plugin printing gigabytes without
  // a newline must not take the core's memory with it).
  let resolveFirst: (line: string) => void = () => {};
  const firstLine = new Promise<string>((resolve) => {
    resolveFirst = resolve;
  });
  let first = true;
  const stdout = new LineReader(STDOUT_LINE_BYTES, (line, truncatedBytes) => {
    if (first) {
      first = false;
      resolveFirst(line);
    } else if (line !== "" || truncatedBytes > 0) {
      log.info({ stdout: line, ...(truncatedBytes > 0 ? { truncatedBytes } : {}) }, "plugin stdout");
    }
  });
  void readLines(child.stdout, stdout);

  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    firstLine.then((line) => ({ kind: "line" as const, line })),
    child.exited.then((exit) => ({ kind: "exited" as const, exit })),
    new Promise<{ kind: "timeout" }>((resolve) => {
      timer = setTimeout(() => resolve({ kind: "timeout" }), options.handshakeTimeoutMs);
    }),
  ]);
  clearTimeout(timer);
  // The process was started from the checked descriptor long before its handshake or its exit:
  // the descriptor is not needed any more.
  target.release();

  const fail = async (message: string): Promise<never> => {
    child.kill();
    await child.exited;
    await Promise.race([stderr.done, new Promise((resolve) => setTimeout(resolve, 100))]);
    rmSync(socketDir, { recursive: true, force: true });
    throw launchError(spec, message, stderr.tail());
  };

  if (outcome.kind === "timeout") {
    return fail(
      `plugin "${spec.name}" did not complete the handshake within ${options.handshakeTimeoutMs} ms`,
    );
  }
  if (outcome.kind === "exited" && outcome.exit.startError) return fail(outcome.exit.startError.shortMessage);
  if (outcome.kind === "exited") {
    await Promise.race([stderr.done, new Promise((resolve) => setTimeout(resolve, 200))]);
    return fail(`plugin "${spec.name}" exited before the handshake (${describeExit(outcome.exit)})`);
  }
  const parsed = parseHandshake(outcome.line);
  if (!parsed.ok) return fail(`plugin "${spec.name}": ${describeProblem(parsed.problem)}`);
  return { child, handshake: parsed.handshake, socketDir, tag, stderrTail: () => stderr.tail() };
}

/**
 * Stops a plugin launched but never handed to a host (the command failed in between): SIGKILL, its
 * exit awaited, its socket dir removed, and the socket it announced outside that dir (post-mortem.ts).
 * A launch that failed has cleaned up after itself already.
 */
export async function discardLaunch(launching: Promise<LaunchedPlugin>): Promise<void> {
  const launched = await launching.catch(() => undefined);
  if (!launched) return;
  launched.child.kill();
  await launched.child.exited;
  try {
    removeAnnouncedSocket(launched);
  } catch {
    // Best effort, as after any plugin's death: the command's own error is the one to report.
  }
  rmSync(launched.socketDir, { recursive: true, force: true });
}

function launchError(spec: PluginSpec, message: string, stderrTail?: string): DroverError {
  return new DroverError("plugin_launch", message, {
    plugin: spec.name,
    ...(stderrTail ? { stderrTail } : {}),
  });
}

/** "exit code 1", "signal SIGKILL", "could not start: ...". */
export function describeExit(exit: ChildExit): string {
  if (exit.startError) return exit.startError.shortMessage;
  if (exit.signal) return `signal ${exit.signal}`;
  if (exit.exitCode !== undefined) return `exit code ${exit.exitCode}`;
  return "did not exit after SIGKILL";
}

export function describeProblem(problem: HandshakeProblem): string {
  switch (problem.kind) {
    case "malformed":
      return `malformed handshake line ${JSON.stringify(truncate(problem.line))}: ${problem.reason}`;
    case "core_version":
      return `handshake has core protocol version ${JSON.stringify(problem.got)}, drover speaks 1 (is this a go-plugin plugin for another application?)`;
    case "no_common_version":
      return `no common plugin protocol version: drover speaks ${problem.offered.join(",")}, the plugin answered ${problem.got}`;
    case "not_grpc":
      return `handshake asks for protocol ${JSON.stringify(problem.protocol)}, drover speaks only "grpc" (go-plugin's net/rpc is not supported)`;
  }
}

function truncate(line: string): string {
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
