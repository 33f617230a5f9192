/**
 * Streaming masking of secret values in job output (docs/jobs.md, "The job log"; docs/security.md).
 *
 * Works on bytes, not text: job output may be invalid UTF-8 or binary, and everything that is not a
 * masked value must pass through byte-exact. Every occurrence of a value becomes `[MASKED]`, also
 * when the value is split across chunks of any size: `push` holds back only the shortest tail of the
 * pending data that could still grow into a match, and emits everything before it.
 *
 * Matching is leftmost-longest: scanning left to right, at the first position where any value
 * matches, the longest value matching there wins, and scanning resumes after it. Streaming output
 * equals masking the whole stream at once (the property test in test/unit/masker.test.ts).
 *
 * Speed: the search is `Buffer.indexOf` per value (native), and a chunk with nothing to mask and
 * nothing to hold back is returned as is, without a copy. Hundreds of MB/s through a plugin is a
 * bar of docs/performance.md, and this is on that path.
 *
 * @example
 *   const m = new Masker(["hunter2"]);
 *   write(m.push(chunk)); ...; write(m.flush());
 */

export const MASKED = "[MASKED]";

const MASKED_BYTES = Buffer.from(MASKED);
const EMPTY = Buffer.alloc(0);

/**
 * Lines of a multi-line value shorter than this are not masked on their own: masking `}` or `--`
 * everywhere would wreck the log and protect nothing.
 */
const MIN_LINE_LENGTH = 4;

export class Masker {
  /** Every value being masked, as bytes. */
  #values: Buffer[] = [];
  #known = new Set<string>();
  #maxLength = 0;
  /** firstBytes[b] === 1 when some value starts with byte b: a cheap filter for the held-back tail. */
  #firstBytes = new Uint8Array(256);
  /** Data held back from earlier pushes: a proper prefix of some value may start in it. */
  #held: Buffer = EMPTY;

  constructor(values: Iterable<string> = []) {
    for (const value of values) this.add(value);
  }

  /**
   * Masks `value` in all output not yet emitted (`::add-mask::`, masked job variables). Empty values
   * are ignored.
   *
   * A multi-line value is masked whole and, in addition, each of its lines of at least 4 characters
   * on its own, like GitHub's runner does for multi-line secrets: output often reaches the log with
   * rewritten line endings (CRLF), re-indented or only in part (one line of a private key is still
   * a secret), and the whole value would not match then. The whole value still wins where it
   * occurs intact, as the longest match.
   */
  add(value: string): void {
    this.#addOne(value);
    if (!value.includes("\n") && !value.includes("\r")) return;
    for (const line of value.split(/\r\n|\n|\r/)) {
      if (line.length >= MIN_LINE_LENGTH) this.#addOne(line);
    }
  }

  /** The values being masked, multi-line ones expanded as `add` describes. */
  get values(): readonly string[] {
    return [...this.#known];
  }

  /** How many bytes are held back, waiting for the next chunk to decide. */
  get pending(): number {
    return this.#held.length;
  }

  /**
   * Takes the next chunk of the stream; returns what can be emitted now. The result may be `chunk`
   * itself (no copy) or a view of it: write it out before reusing the chunk's memory.
   */
  push(chunk: Uint8Array): Uint8Array {
    if (this.#values.length === 0) return chunk;
    const data = this.#held.length === 0 ? asBuffer(chunk) : Buffer.concat([this.#held, chunk]);
    const { out, hold } = this.#scan(data, false);
    // A copy: `data` may be the caller's memory. It is shorter than the longest value.
    this.#held = hold === data.length ? EMPTY : Buffer.from(data.subarray(hold));
    return out;
  }

  /** Ends the stream (or a section of it): emits what was held back, masked where it matches. */
  flush(): Uint8Array {
    if (this.#held.length === 0) return EMPTY;
    const { out } = this.#scan(this.#held, true);
    this.#held = EMPTY;
    return out;
  }

  /** Masks a complete piece of data on its own, leaving the stream's state alone. */
  mask(data: Uint8Array): Uint8Array {
    if (this.#values.length === 0) return data;
    return this.#scan(asBuffer(data), true).out;
  }

  /** `mask` for text: drover's own lines, log lines. */
  maskString(text: string): string {
    if (this.#values.length === 0 || text.length === 0) return text;
    const bytes = Buffer.from(text);
    const out = this.#scan(bytes, true).out;
    return out === bytes ? text : Buffer.from(out.buffer, out.byteOffset, out.byteLength).toString();
  }

  #addOne(value: string): void {
    if (value.length === 0 || this.#known.has(value)) return;
    this.#known.add(value);
    const bytes = Buffer.from(value);
    this.#values.push(bytes);
    this.#maxLength = Math.max(this.#maxLength, bytes.length);
    this.#firstBytes[bytes[0]!] = 1;
  }

  /**
   * Masks `data[0, hold)` and returns it; `data[hold, length)` must wait for more data. When `final`,
   * no more data will come and `hold` is the length.
   */
  #scan(data: Buffer, final: boolean): { out: Uint8Array; hold: number } {
    const values = this.#values;
    const length = data.length;
    // next[i]: where values[i] next occurs at or after the scan position (-1: nowhere).
    const next = values.map((value) => data.indexOf(value));
    // The first position at or after the scan position where the data ends in a proper prefix of
    // some value: matching there (and after) depends on bytes not seen yet.
    let undecided = final ? length : this.#firstPartial(data, 0);
    let pieces: Uint8Array[] | undefined;
    let position = 0;
    for (;;) {
      let match = -1;
      let matchLength = 0;
      for (let i = 0; i < values.length; i++) {
        let at = next[i]!;
        if (at !== -1 && at < position) {
          at = data.indexOf(values[i]!, position);
          next[i] = at;
        }
        if (at === -1) continue;
        const valueLength = values[i]!.length;
        if (match === -1 || at < match || (at === match && valueLength > matchLength)) {
          match = at;
          matchLength = valueLength;
        }
      }
      if (undecided < position) undecided = this.#firstPartial(data, position);
      // A match at or after `undecided` could lose to a longer or further-left one that the next
      // chunk completes ("ab" then "c" with values "b" and "abc").
      if (match === -1 || match >= undecided) break;
      pieces ??= [];
      if (match > position) pieces.push(data.subarray(position, match));
      pieces.push(MASKED_BYTES);
      position = match + matchLength;
    }
    if (pieces === undefined)
      return { out: undecided === length ? data : data.subarray(0, undecided), hold: undecided };
    if (undecided > position) pieces.push(data.subarray(position, undecided));
    return { out: Buffer.concat(pieces), hold: undecided };
  }

  /** The first position >= from where `data` ends in a proper prefix of some value; else the length. */
  #firstPartial(data: Buffer, from: number): number {
    const length = data.length;
    for (let at = Math.max(from, length - this.#maxLength + 1); at < length; at++) {
      if (this.#firstBytes[data[at]!] === 0) continue;
      const rest = length - at;
      for (const value of this.#values) {
        if (value.length > rest && data.compare(value, 0, rest, at, length) === 0) return at;
      }
    }
    return length;
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
