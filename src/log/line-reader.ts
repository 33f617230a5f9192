/**
 * A byte stream read as lines, with memory bounded by the longest line kept: what drover does with
 * a plugin's stderr and with its stdout after the handshake (a plugin printing gigabytes without a
 * newline must not take the core's memory with it: test/e2e/attacks/plugin-output.test.ts).
 *
 * Lines end at `\n`, a `\r` before it is dropped; a last line without one ends with the stream. A
 * line longer than `maxLineBytes` is cut: its first `maxLineBytes` are kept, and `truncatedBytes`
 * says how much was dropped.
 */

export type OnLine = (text: string, truncatedBytes: number) => void;

export class LineReader {
  readonly #maxLineBytes: number;
  readonly #onLine: OnLine;
  readonly #decoder = new TextDecoder();
  /** The current line: its first bytes (at most maxLineBytes) and how many bytes it really has. */
  #pieces: Buffer[] = [];
  #kept = 0;
  #total = 0;

  constructor(maxLineBytes: number, onLine: OnLine) {
    this.#maxLineBytes = maxLineBytes;
    this.#onLine = onLine;
  }

  /** Feeds bytes; calls onLine for each line they complete. */
  push(chunk: Uint8Array | string): void {
    let data =
      typeof chunk === "string"
        ? Buffer.from(chunk)
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let newline = data.indexOf(0x0a); newline !== -1; newline = data.indexOf(0x0a)) {
      this.#take(data.subarray(0, newline));
      this.#endLine();
      data = data.subarray(newline + 1);
    }
    if (data.length > 0) this.#take(data);
  }

  /** The stream ended: a last line without a newline is a line. */
  end(): void {
    if (this.#total > 0) this.#endLine();
  }

  /** The line read so far and not yet ended (for a tail shown in an error), or undefined. */
  partial(): string | undefined {
    return this.#pieces.length > 0 ? this.#text() : undefined;
  }

  #take(bytes: Buffer): void {
    this.#total += bytes.length;
    if (this.#kept >= this.#maxLineBytes) return;
    // A copy: the stream may reuse its chunk's memory.
    const part = Buffer.from(bytes.subarray(0, this.#maxLineBytes - this.#kept));
    this.#pieces.push(part);
    this.#kept += part.length;
  }

  #text(): string {
    const text = this.#decoder.decode(
      this.#pieces.length === 1 ? this.#pieces[0] : Buffer.concat(this.#pieces),
    );
    return text.endsWith("\r") ? text.slice(0, -1) : text;
  }

  #endLine(): void {
    const text = this.#text();
    const truncatedBytes = this.#total - this.#kept;
    this.#pieces = [];
    this.#kept = 0;
    this.#total = 0;
    this.#onLine(text, truncatedBytes);
  }
}

/** Reads `stream` to its end through `reader`; a failing stream ends the read (never throws). */
export async function readLines(
  stream: NodeJS.ReadableStream | AsyncIterable<Uint8Array | string>,
  reader: LineReader,
  onError?: (err: unknown) => void,
): Promise<void> {
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array | string>) reader.push(chunk);
  } catch (err) {
    onError?.(err);
  }
  reader.end();
}
