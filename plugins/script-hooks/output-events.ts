/**
 * Hook output → LifecycleEvents: each line through the workflow-command parser; text goes back as
 * printed (bytes and all), runner-written lines (`##[group]`, echoed commands, `##[debug]` with
 * step debug) as text, and the rest as annotation and mask events. Consecutive output of one
 * stream is sent as one event per chunk, not one per line.
 */
import { annotationEvent, type LifecycleEventInit, maskEvent, outputEvent, type Stream } from "./events.ts";
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

/** Turns lines of one hook run into events, through one workflow-command parser. */
export class OutputProcessor {
  readonly parser: WorkflowCommandParser;
  #decoder = new TextDecoder();
  #batch = new OutputBatch();
  /** The first workflow command that failed the step, for the result message. */
  commandFailure: string | undefined;

  constructor(private readonly debug: boolean) {
    this.parser = new WorkflowCommandParser({ debug });
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
          if (this.debug) text(`##[debug]${e.message}`);
          break;
        case "mask":
          event(maskEvent(e.value));
          break;
        case "annotation":
          event(annotationEvent(e.level, e.message, e.properties));
          break;
        case "problem":
          event(annotationEvent(e.level, e.message));
          if (e.failsStep) this.commandFailure ??= `a workflow command failed (output line ${e.line})`;
          break;
      }
    }
  }

  flush(out: LifecycleEventInit[]): void {
    this.#batch.flush(out);
  }
}
