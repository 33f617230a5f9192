/**
 * The job log (docs/jobs.md): the job's output bytes plus drover's own lines (sections, command echoes,
 * the summary), in order, masked, optionally prefixed with the job's name, and cut at a size limit.
 *
 * Order of the stages, for every byte: mask values (masker.ts), mask tokens and URL credentials by
 * their shape (pattern-masker.ts), then prefix, then limit. Masking comes first so that a
 * prefix inserted mid-value cannot hide a value from the masker; the limit counts the bytes written
 * (after masking, prefixes included), which is what the log's reader receives.
 *
 * @example
 *   const log = new JobLog({ sink: stdoutSink(), color: process.stdout.isTTY, masks: job.maskedValues });
 *   log.sectionStart("build_script", 'Executing "build_script" stage of the job script');
 *   for await (const chunk of stage.output) log.output(chunk);
 *   log.sectionEnd("build_script", { ok: false, durationMs: 1020, note: "exit status 3" });
 */

import { Masker } from "./masker.ts";
import { PatternMasker } from "./pattern-masker.ts";
import type { JobLogSink } from "./sinks.ts";

export type { FdSink, JobLogSink, MemorySink } from "./sinks.ts";
export { fdSink, memorySink, stdoutSink } from "./sinks.ts";

export type LineStyle = "info" | "warning" | "error" | "success" | "command" | "section";

export interface JobLogOptions {
  sink: JobLogSink;
  /** ANSI colours (exec mode on a TTY; always in a GitLab trace, which renders them). */
  color: boolean;
  /** Prepended to every line, e.g. `"[build] "`, when several jobs share one output. */
  prefix?: string;
  /** Bytes to write at most; then one line says so and the rest is dropped (GitLab's behaviour). */
  limitBytes?: number;
  /** Values masked from the start (the job's masked variables). */
  masks?: readonly string[];
  /** Token prefixes masked from the start (`glpat-` → `glpat-[MASKED]`); see maskTokenPrefixes. */
  tokenPrefixes?: readonly string[];
  /**
   * GitLab's `section_start:<time>:<name>` / `section_end` markers around sections, which GitLab's
   * job page turns into collapsible sections (the daemon's trace). Off for a terminal. Not useful
   * with `prefix`: GitLab expects them at the start of a line.
   */
  sectionMarkers?: boolean;
}

/** GitLab Runner's escape sequences (helpers/trace), so a GitLab trace looks like GitLab's own. */
const ANSI = {
  reset: "\x1b[0;m",
  clearLine: "\x1b[0K",
  boldCyan: "\x1b[36;1m",
  boldGreen: "\x1b[32;1m",
  boldRed: "\x1b[31;1m",
  yellow: "\x1b[0;33m",
} as const;

const STYLE_COLOR: Record<LineStyle, string> = {
  info: "",
  warning: ANSI.yellow,
  error: ANSI.boldRed,
  success: ANSI.boldGreen,
  command: ANSI.boldGreen,
  section: ANSI.boldCyan,
};

const NEWLINE = 0x0a;

export class JobLog {
  readonly #sink: JobLogSink;
  readonly #color: boolean;
  readonly #prefix: Buffer | undefined;
  readonly #limit: number;
  readonly #markers: boolean;
  readonly #masker: Masker;
  readonly #patterns: PatternMasker;
  #written = 0;
  /** The next byte written starts a line (gets the prefix; drover's lines need no leading newline). */
  #atLineStart = true;
  #truncated = false;
  /** The last byte handed to the sink was a newline (or nothing was written yet). */
  #endsLine = true;

  constructor(opts: JobLogOptions) {
    this.#sink = opts.sink;
    this.#color = opts.color;
    this.#prefix = opts.prefix ? Buffer.from(opts.prefix) : undefined;
    this.#limit = opts.limitBytes ?? Number.POSITIVE_INFINITY;
    this.#markers = opts.sectionMarkers ?? false;
    this.#masker = new Masker(opts.masks);
    this.#patterns = new PatternMasker(opts.tokenPrefixes);
  }

  /** Bytes handed to the sink so far, the truncation notice included. */
  get bytesWritten(): number {
    return this.#written;
  }

  /** True once the limit was reached: further output is dropped. */
  get truncated(): boolean {
    return this.#truncated;
  }

  /** The job's output, as it comes (any chunking, any bytes). */
  output(chunk: Uint8Array): void {
    if (this.#truncated || chunk.length === 0) return;
    this.#emit(this.#patterns.push(this.#masker.push(chunk)));
  }

  /**
   * One of drover's own lines (several if `text` has newlines), masked like the output. Starts on a
   * new line if the output stopped mid-line.
   */
  line(text: string, style: LineStyle = "info"): void {
    if (this.#truncated) return;
    this.flush();
    const styled = this.#patterns
      .maskString(this.#masker.maskString(text))
      .split("\n")
      .map((line) => this.#paint(STYLE_COLOR[style], line))
      .join("\n");
    this.#emit(Buffer.from(`${this.#atLineStart ? "" : "\n"}${styled}\n`));
  }

  /** A section's header: a stage, a hook, a group. `name` is an identifier, `title` what is shown. */
  sectionStart(name: string, title: string): void {
    if (this.#truncated) return;
    this.flush();
    this.#marker("section_start", name);
    this.line(title, "section");
  }

  /** A section's result line: `✓ build_script 0.21s` or `✗ build_script 1.02s: exit status 3`. */
  sectionEnd(name: string, outcome: { ok: boolean; durationMs: number; note?: string }): void {
    if (this.#truncated) return;
    this.flush();
    const mark = outcome.ok ? this.#paint(ANSI.boldGreen, "✓") : this.#paint(ANSI.boldRed, "✗");
    const note = outcome.note ? `: ${outcome.note}` : "";
    this.line(`${mark} ${name} ${formatDuration(outcome.durationMs)}${note}`);
    this.#marker("section_end", name);
  }

  /** Masks `value` from now on (`::add-mask::`, a lifecycle plugin's mask event). */
  addMask(value: string): void {
    this.#masker.add(value);
  }

  /**
   * Masks every token that starts with one of `prefixes` from now on (GitLab's token prefixes and
   * the job's `features.token_mask_prefixes`). Credentials in URLs (`?private_token=…`) are
   * always masked.
   */
  maskTokenPrefixes(prefixes: Iterable<string>): void {
    this.#patterns.addPrefixes(prefixes);
  }

  /** Writes what the maskers still hold back: at the end of the output, or before drover's lines. */
  flush(): void {
    if (this.#truncated) return;
    const held = this.#masker.flush();
    const rest = Buffer.concat([this.#patterns.push(held), this.#patterns.flush()]);
    if (rest.length > 0) this.#emit(rest);
  }

  #paint(color: string, text: string): string {
    return this.#color && color !== "" && text !== "" ? `${color}${text}${ANSI.reset}` : text;
  }

  /**
   * `section_start:<unix seconds>:<name>\r\e[0K`, no newline: GitLab's form. On a terminal the
   * carriage return and erase-line make it invisible; it does not change the line-start state.
   */
  #marker(kind: "section_start" | "section_end", name: string): void {
    if (!this.#markers) return;
    if (!this.#atLineStart) this.#emit(Buffer.from("\n"));
    const id = name.replace(/[^A-Za-z0-9_.-]/g, "_");
    this.#write(Buffer.from(`${kind}:${Math.floor(Date.now() / 1000)}:${id}\r${ANSI.clearLine}`));
  }

  /** Prefixes line starts, then writes. */
  #emit(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const prefix = this.#prefix;
    if (prefix === undefined) {
      this.#atLineStart = bytes[bytes.length - 1] === NEWLINE;
      this.#write(bytes);
      return;
    }
    const data = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const pieces: Uint8Array[] = [];
    let start = 0;
    while (start < data.length) {
      if (this.#atLineStart) pieces.push(prefix);
      const newline = data.indexOf(NEWLINE, start);
      const end = newline === -1 ? data.length : newline + 1;
      pieces.push(data.subarray(start, end));
      this.#atLineStart = newline !== -1;
      start = end;
    }
    this.#write(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces));
  }

  /** Writes within the limit; past it, writes the notice once and drops everything after. */
  #write(bytes: Uint8Array): void {
    if (this.#truncated || bytes.length === 0) return;
    const room = this.#limit - this.#written;
    if (bytes.length <= room) {
      this.#sink.write(bytes);
      this.#written += bytes.length;
      this.#endsLine = bytes[bytes.length - 1] === NEWLINE;
      return;
    }
    const cut = utf8Boundary(bytes, room);
    if (cut > 0) {
      this.#sink.write(bytes.subarray(0, cut));
      this.#written += cut;
      this.#endsLine = bytes[cut - 1] === NEWLINE;
    }
    this.#truncated = true;
    const notice = Buffer.from(
      `${this.#endsLine ? "" : "\n"}${this.#prefix?.toString() ?? ""}${this.#paint(
        ANSI.boldRed,
        `Job's log exceeded limit of ${this.#limit} bytes. Job execution will continue but no more output will be collected.`,
      )}\n`,
    );
    this.#sink.write(notice);
    this.#written += notice.length;
  }
}

/** `cut` moved back to the start of a UTF-8 sequence it falls inside, so no character is split. */
function utf8Boundary(bytes: Uint8Array, cut: number): number {
  let at = cut;
  while (at > 0 && cut - at < 3 && at < bytes.length && (bytes[at]! & 0xc0) === 0x80) at--;
  return (bytes[at]! & 0xc0) === 0x80 ? cut : at;
}

/** `0.21s`, `59.99s`, `1m05s`, `1h02m03s`. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m${s}s` : `${m}m${s}s`;
}
