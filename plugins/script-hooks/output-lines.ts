/**
 * Cuts a process's output, which arrives in chunks of any size, into lines (at "\n"), as bytes:
 * a line that is not a command goes to the job log exactly as it was printed, whatever its
 * encoding. A line longer than `maxLineBytes` is cut there (it cannot be a command anyone meant),
 * so that a process printing without newlines cannot make the plugin buffer without limit.
 */

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

export class LineSplitter {
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  constructor(private readonly maxLineBytes = DEFAULT_MAX_LINE_BYTES) {}

  /** The lines `chunk` completes, each without its "\n". */
  push(chunk: Uint8Array): Uint8Array[] {
    const lines: Uint8Array[] = [];
    let from = 0;
    while (from < chunk.length) {
      const newline = chunk.indexOf(0x0a, from);
      const end = newline < 0 ? chunk.length : newline;
      let piece = chunk.subarray(from, end);
      // Cut an overlong line at the limit; what follows starts a new line.
      while (this.#pendingBytes + piece.length > this.maxLineBytes) {
        const room = this.maxLineBytes - this.#pendingBytes;
        this.#add(piece.subarray(0, room));
        lines.push(this.#take());
        piece = piece.subarray(room);
      }
      this.#add(piece);
      if (newline < 0) break;
      lines.push(this.#take());
      from = newline + 1;
    }
    return lines;
  }

  /** The last line, when the output did not end with "\n". */
  end(): Uint8Array[] {
    return this.#pendingBytes > 0 ? [this.#take()] : [];
  }

  #add(piece: Uint8Array): void {
    if (piece.length === 0) return;
    // Copy: the chunk's buffer may be reused by the stream.
    this.#pending.push(piece.slice());
    this.#pendingBytes += piece.length;
  }

  #take(): Uint8Array {
    const line =
      this.#pending.length === 1
        ? (this.#pending[0] as Uint8Array)
        : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    return new Uint8Array(line.buffer, line.byteOffset, line.byteLength);
  }
}
