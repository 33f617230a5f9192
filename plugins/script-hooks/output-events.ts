/**
 * Hook output → LifecycleEvents: each line through the workflow-command parser; text goes back as
 * printed (bytes and all), runner-written lines (`##[group]`, echoed commands, `##[debug]` with
 * step debug) as text, and the rest as annotation and mask events. Consecutive output of one
 * stream is sent as one event per chunk, not one per line.
 */
import {
  addPathEvent,
  annotationEvent,
  type LifecycleEventInit,
  maskEvent,
  outputEvent,
  type Stream,
  setEnvEvent,
} from "./events.ts";
import { EnvBudget } from "./file-commands.ts";
import { WorkflowCommandParser } from "./workflow-commands.ts";

const encoder = new TextEncoder();
const NEWLINE = encoder.encode("\n");

/** Coalesces consecutive output of one stream into one event (one gRPC message per chunk, not per line). */
class OutputBatch {
  #stream: Stream = "stdout";
  #parts: Uint8Array[] = [];

  add(stream: Stream, data: Uint8Array, out: LifecycleEventInit[]): void {
    if (stream !== this.#stream) this.flush(out);
    this.#stream = stream;
    this.#parts.push(data);
  }

  flush(out: LifecycleEventInit[]): void {
    if (this.#parts.length === 0) return;
    const data = this.#parts.length === 1 ? (this.#parts[0] as Uint8Array) : Buffer.concat(this.#parts);
    out.push(outputEvent(this.#stream, data));
    this.#parts = [];
  }
}

export interface OutputProcessorOptions {
  /** Step debug: `::debug::` lines shown, commands echoed. */
  debug: boolean;
  /** `::set-env` and `::add-path` allowed (ACTIONS_ALLOW_UNSECURE_COMMANDS). */
  allowUnsecureCommands?: boolean;
  /** Counts what `::set-env` sets, shared with the run's GITHUB_ENV (file-commands.ts). */
  envBudget?: EnvBudget;
}

/** Turns lines of one hook run into events, through one workflow-command parser. */
export class OutputProcessor {
  readonly parser: WorkflowCommandParser;
  readonly #debug: boolean;
  readonly #envBudget: EnvBudget;
  #decoder = new TextDecoder();
  #batch = new OutputBatch();
  /** The first workflow command that failed the step, for the result message. */
  commandFailure: string | undefined;

  constructor(options: OutputProcessorOptions) {
    this.#debug = options.debug;
    this.#envBudget = options.envBudget ?? new EnvBudget();
    this.parser = new WorkflowCommandParser({
      debug: options.debug,
      allowUnsecureCommands: options.allowUnsecureCommands ?? false,
    });
  }

  line(stream: Stream, bytes: Uint8Array, out: LifecycleEventInit[]): void {
    const text = (s: string) => this.#batch.add(stream, encoder.encode(`${s}\n`), out);
    const event = (e: LifecycleEventInit) => {
      this.#batch.flush(out);
      out.push(e);
    };
    for (const e of this.parser.parseLine(this.#decoder.decode(bytes))) {
      switch (e.kind) {
        case "text":
          // As printed, bytes and all.
          this.#batch.add(stream, bytes, out);
          this.#batch.add(stream, NEWLINE, out);
          break;
        case "echo":
          text(e.text);
          break;
        case "group":
          text(`##[group]${e.title}`);
          break;
        case "endgroup":
          text("##[endgroup]");
          break;
        case "debug":
          if (this.#debug) text(`##[debug]${e.message}`);
          break;
        case "mask":
          event(maskEvent(e.value));
          break;
        case "annotation":
          event(annotationEvent(e.level, e.message, e.properties));
          break;
        case "problem":
          this.#problem(e.line, e.level, e.message, e.failsStep, event);
          break;
        case "set-env": {
          const over = this.#envBudget.add(e.name, e.value);
          if (over === undefined) event(setEnvEvent(e.name, e.value));
          else
            this.#problem(
              e.line,
              "error",
              `output line ${e.line}: Unable to process command '::set-env name=${e.name}::' successfully. ${over}`,
              true,
              event,
            );
          break;
        }
        case "add-path":
          event(addPathEvent(e.path));
          break;
      }
    }
  }

  flush(out: LifecycleEventInit[]): void {
    this.#batch.flush(out);
  }

  #problem(
    line: number,
    level: "error" | "warning",
    message: string,
    failsStep: boolean,
    event: (e: LifecycleEventInit) => void,
  ): void {
    event(annotationEvent(level, message));
    if (failsStep) this.commandFailure ??= `a workflow command failed (output line ${line})`;
  }
}
