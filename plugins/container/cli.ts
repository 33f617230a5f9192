/**
 * The container CLI (podman or docker: the same commands here), driven as child processes with
 * execa. Every failure is one line: the command and the last thing it said on stderr.
 */
import type { Readable } from "node:stream";
import { execa } from "execa";

/** A command running with its output streamed. */
export interface Streaming {
  stdout: Readable;
  stderr: Readable;
  kill(): void;
  /** How it ended: an exit code, a signal, or why it could not run at all. */
  exited: Promise<{ exitCode: number | undefined; signal: string | undefined; startError?: string }>;
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | undefined,
  ) {
    super(message);
  }
}

export class ContainerCli {
  constructor(readonly command: "podman" | "docker") {}

  /** Runs `command args` to its end; its stdout, trimmed. */
  async run(args: readonly string[], options: { signal?: AbortSignal } = {}): Promise<string> {
    const result = await execa(this.command, args, {
      reject: false,
      stdin: "ignore",
      ...(options.signal ? { cancelSignal: options.signal } : {}),
    });
    if (result.exitCode !== 0 || result.failed) throw this.#error(args, result.stderr, result.exitCode);
    return result.stdout.trim();
  }

  /** Whether `command args` exits 0 (`image exists`, a probe). */
  async succeeds(args: readonly string[]): Promise<boolean> {
    const result = await execa(this.command, args, { reject: false, stdin: "ignore" });
    return result.exitCode === 0;
  }

  /**
   * Starts `command args` with its output as streams of bytes, for a stage or a log; `input` is
   * written to its stdin, which is then closed (without it, stdin is /dev/null).
   */
  stream(args: readonly string[], input?: string): Streaming {
    const subprocess =
      input === undefined
        ? execa(this.command, args, { reject: false, buffer: false, stdin: "ignore", encoding: "buffer" })
        : execa(this.command, args, { reject: false, buffer: false, input, encoding: "buffer" });
    return {
      stdout: subprocess.stdout,
      stderr: subprocess.stderr,
      kill: () => subprocess.kill("SIGKILL"),
      exited: subprocess.then(
        (r) =>
          r.exitCode === undefined && r.signal === undefined
            ? { exitCode: undefined, signal: undefined, startError: r.shortMessage ?? "it did not start" }
            : { exitCode: r.exitCode, signal: r.signal },
        (err: Error) => ({ exitCode: undefined, signal: undefined, startError: err.message }),
      ),
    };
  }

  #error(args: readonly string[], stderr: string, exitCode: number | undefined): CliError {
    const said = lastLine(stderr);
    const what = `${this.command} ${args.slice(0, 2).join(" ")}`;
    return new CliError(
      exitCode === undefined
        ? `${what} could not run: is ${this.command} installed?${said ? ` (${said})` : ""}`
        : `${what} failed (exit ${exitCode})${said ? `: ${said}` : ""}`,
      exitCode,
    );
  }
}

/** The last line that says something (podman's syslog warnings say nothing about the command). */
function lastLine(text: string): string {
  const lines = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !/failed to connect to syslog/.test(line));
  return lines.at(-1) ?? "";
}
