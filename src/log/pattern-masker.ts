/**
 * Masking of secrets recognised by their shape rather than their value, as GitLab Runner's job log
 * does it (common/buildlogger/internal/tokensanitizer and urlsanitizer):
 *
 *  - tokens by prefix: after `glpat-` (and GitLab's other token prefixes, and the job's own
 *    `features.token_mask_prefixes`), every following character of the token alphabet
 *    (`0-9A-Za-z-._=`) is replaced by one `[MASKED]`: `glpat-abc123` → `glpat-[MASKED]`;
 *  - credentials in URL query parameters: the value of `?key=` / `&key=` for `private_token`,
 *    `authenticity_token`, `rss_token`, `x-amz-signature`, `x-amz-credential`,
 *    `x-amz-security-token` (any case), up to the next `?`, `&`, space or control character.
 *
 * Streaming over bytes, like masker.ts: a chunk boundary inside a prefix or a parameter name holds
 * back only the bytes that could still become one; a token or a value being masked is simply
 * dropped as it comes. The result equals masking the whole stream at once
 * (test/unit/pattern-masker.test.ts).
 */

const MASKED = Buffer.from("[MASKED]");
const EMPTY = Buffer.alloc(0);

/** GitLab's token prefixes (docs.gitlab.com/security/token_overview, FF_MASK_ALL_DEFAULT_TOKENS). */
export const GITLAB_TOKEN_PREFIXES: readonly string[] = [
  "glpat-",
  "gloas-",
  "gldt-",
  "glrt-",
  "glcbt-",
  "glrtr-",
  "glptt-",
  "glft-",
  "glimt-",
  "glagent-",
  "glsoat-",
  "glffct-",
  "_gitlab_session=",
  "gltok-",
];

/**
 * The prefixes GitLab Runner masks without being asked (tokensanitizer.DefaultTokenPrefixes):
 * all of GitLab's with FF_MASK_ALL_DEFAULT_TOKENS (on by default), else `glpat-` alone.
 */
export function defaultTokenPrefixes(all: boolean): readonly string[] {
  return all ? GITLAB_TOKEN_PREFIXES : ["glpat-"];
}

const URL_PARAMS = new Set([
  "private_token",
  "authenticity_token",
  "rss_token",
  "x-amz-signature",
  "x-amz-credential",
  "x-amz-security-token",
]);
const LONGEST_PARAM = Math.max(...[...URL_PARAMS].map((p) => p.length));
/** The first bytes of the parameter names, either case: any other byte after `?`/`&` rules one out. */
const PARAM_START = new Uint8Array(256);
for (const name of URL_PARAMS) {
  PARAM_START[name.charCodeAt(0)] = 1;
  PARAM_START[name.toUpperCase().charCodeAt(0)] = 1;
}

const TOKEN_ALPHABET = new Uint8Array(256);
for (const c of "-._=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TOKEN_ALPHABET[c.charCodeAt(0)] = 1;

/** A URL parameter value ends at `?`, `&`, whitespace or a control character (GitLab's isParamEnd). */
function endsParam(byte: number): boolean {
  return byte === 0x3f || byte === 0x26 || byte <= 0x20 || byte === 0x7f;
}

export class PatternMasker {
  #prefixes: Buffer[] = [];
  /**
   * The prefixes grouped by their first two bytes (GitLab's all start with `gl` but one): one native
   * search per group finds where any of them may start, instead of one per prefix over the whole
   * output (a log line with a `g` in it stopped every search of a `gl...` prefix).
   */
  #groups: Array<{ lead: Buffer; members: Buffer[] }> = [];
  /** Inside a token after a prefix: its characters are being dropped. */
  #inToken = false;
  /** Inside a URL parameter's value: dropped until its end. */
  #inValue = false;
  #held: Buffer = EMPTY;

  constructor(prefixes: Iterable<string> = []) {
    this.addPrefixes(prefixes);
  }

  addPrefixes(prefixes: Iterable<string>): void {
    const known = new Set(this.#prefixes.map((p) => p.toString()));
    for (const prefix of prefixes) {
      if (prefix === "" || known.has(prefix)) continue;
      known.add(prefix);
      const bytes = Buffer.from(prefix);
      this.#prefixes.push(bytes);
      const lead = bytes.subarray(0, 2);
      const group = this.#groups.find((g) => g.lead.equals(lead));
      if (group) group.members.push(bytes);
      else this.#groups.push({ lead, members: [bytes] });
    }
  }

  push(chunk: Uint8Array): Uint8Array {
    const data = this.#held.length === 0 ? asBuffer(chunk) : Buffer.concat([this.#held, chunk]);
    const { out, hold } = this.#scan(data, false);
    this.#held = hold === data.length ? EMPTY : Buffer.from(data.subarray(hold));
    return out;
  }

  flush(): Uint8Array {
    const { out } = this.#scan(this.#held, true);
    this.#held = EMPTY;
    return out;
  }

  /** A complete piece of text on its own (drover's own lines). */
  maskString(text: string): string {
    if (!this.#mayMatch(text)) return text;
    const saved = { inToken: this.#inToken, inValue: this.#inValue, held: this.#held };
    this.#inToken = false;
    this.#inValue = false;
    this.#held = EMPTY;
    const out = Buffer.from(this.#scan(Buffer.from(text), true).out).toString();
    this.#inToken = saved.inToken;
    this.#inValue = saved.inValue;
    this.#held = saved.held;
    return out;
  }

  #mayMatch(text: string): boolean {
    return (
      text.includes("?") || text.includes("&") || this.#prefixes.some((p) => text.includes(p.toString()))
    );
  }

  /** Masks data[0, hold) into `out`; data[hold, length) waits for more (everything when `final`). */
  #scan(data: Buffer, final: boolean): { out: Uint8Array; hold: number } {
    const pieces: Uint8Array[] = [];
    let position = 0;
    let copied = 0;
    const emit = (end: number) => {
      if (end > copied) pieces.push(data.subarray(copied, end));
      copied = end;
    };
    const length = data.length;
    const prefixAt: number[] = [];
    const markAt: number[] = [];
    while (position < length) {
      if (this.#inToken) {
        while (position < length && TOKEN_ALPHABET[data[position]!]) position++;
        copied = position; // the token's characters are dropped
        if (position === length) break;
        this.#inToken = false;
        pieces.push(MASKED);
        continue;
      }
      if (this.#inValue) {
        while (position < length && !endsParam(data[position]!)) position++;
        copied = position;
        if (position === length) break;
        this.#inValue = false;
        pieces.push(MASKED);
        continue;
      }
      const found = this.#next(data, position, final, prefixAt, markAt);
      if (found.kind === "none") {
        position = found.hold;
        break;
      }
      emit(found.start);
      if (found.kind === "prefix" && found.end === length && !final) {
        // Undecided: the next chunk says whether a token follows. Hold the prefix back.
        return { out: concat(pieces), hold: found.start };
      }
      emit(found.end);
      position = found.end;
      if (found.kind === "param") this.#inValue = true;
      // GitLab masks only when at least one token character follows the prefix.
      else if (position < length && TOKEN_ALPHABET[data[position]!]) this.#inToken = true;
    }
    if (final) {
      if (this.#inToken || this.#inValue) pieces.push(MASKED);
      this.#inToken = false;
      this.#inValue = false;
      emit(length);
      return { out: concat(pieces), hold: length };
    }
    emit(position);
    return { out: concat(pieces), hold: position };
  }

  /**
   * The next thing to mask at or after `from`: a token prefix (`end` after it) or a sensitive URL
   * parameter (`end` after its `=`), whichever comes first; or none, with how much of the data can
   * be emitted (`hold`: the start of a partial prefix or parameter name at the end).
   */
  #next(
    data: Buffer,
    from: number,
    final: boolean,
    prefixAt: number[],
    markAt: number[],
  ): { kind: "prefix" | "param"; start: number; end: number } | { kind: "none"; hold: number } {
    let best: { kind: "prefix" | "param"; start: number; end: number } | undefined;
    this.#groups.forEach((group, i) => {
      // Each group's next full match, searched again only once `from` has passed it: a scan costs
      // one pass over the data per group, however many tokens it holds.
      let at = prefixAt[i * 2] ?? -2;
      if (at === -2 || (at !== -1 && at < from)) {
        let length = 0;
        for (at = data.indexOf(group.lead, from); at !== -1; at = data.indexOf(group.lead, at + 1)) {
          length = matchAt(data, at, group.members);
          if (length > 0) break;
        }
        prefixAt[i * 2] = at;
        prefixAt[i * 2 + 1] = length;
      }
      const end = at + (prefixAt[i * 2 + 1] ?? 0);
      // The earliest match; at the same place, the longest (overlapping prefixes of the job's own).
      if (at !== -1 && (best === undefined || at < best.start || (at === best.start && end > best.end))) {
        best = { kind: "prefix", start: at, end };
      }
    });
    // The `?` and `&` that may start a parameter, each found with one native search per scan
    // (markAt caches the next of each, like prefixAt); most are ruled out by the byte after them.
    let searchFrom = from;
    for (;;) {
      if (markAt[0] === undefined || (markAt[0] !== -1 && markAt[0] < searchFrom))
        markAt[0] = data.indexOf(0x3f, searchFrom);
      if (markAt[1] === undefined || (markAt[1] !== -1 && markAt[1] < searchFrom))
        markAt[1] = data.indexOf(0x26, searchFrom);
      const question = markAt[0];
      const ampersand = markAt[1];
      const at = question === -1 ? ampersand : ampersand === -1 ? question : Math.min(question, ampersand);
      if (at === -1 || (best !== undefined && at >= best.start)) break;
      searchFrom = at + 1;
      if (at + 1 < data.length && !PARAM_START[data[at + 1]!]) continue;
      const param = this.#paramAt(data, at + 1, final);
      // A parameter's name cut by the end of the data: a later match must not be taken first.
      if (param === "undecided") return { kind: "none", hold: at };
      if (param !== undefined) {
        best = { kind: "param", start: at, end: at + 1 + param + 1 };
        break;
      }
    }
    // A longer prefix may still match where this one does, once more bytes come: wait for them,
    // or a chunk boundary would decide differently than the whole text.
    const found = best as { kind: "prefix" | "param"; start: number; end: number } | undefined;
    if (
      !final &&
      found?.kind === "prefix" &&
      this.#longerMayMatch(data, found.start, found.end - found.start)
    ) {
      return { kind: "none", hold: found.start };
    }
    if (found) return found;
    if (final) return { kind: "none", hold: data.length };
    return { kind: "none", hold: this.#partialAt(data, from) };
  }

  /**
   * The length of the sensitive parameter name at `start` when `=` follows it; "undecided" when
   * the data ends before that is known (and more may come); else undefined.
   */
  #paramAt(data: Buffer, start: number, final: boolean): number | "undecided" | undefined {
    const window = data.subarray(start, Math.min(data.length, start + LONGEST_PARAM + 1));
    const relative = window.indexOf(0x3d);
    if (relative === -1) {
      if (final || start + window.length < data.length) return undefined;
      const name = window.toString("latin1").toLowerCase();
      return [...URL_PARAMS].some((p) => p.startsWith(name)) ? "undecided" : undefined;
    }
    if (relative === 0) return undefined;
    return URL_PARAMS.has(window.toString("latin1", 0, relative).toLowerCase()) ? relative : undefined;
  }

  /** Whether a prefix longer than `length` could match at `at` once the data goes on. */
  #longerMayMatch(data: Buffer, at: number, length: number): boolean {
    const available = data.length - at;
    return this.#prefixes.some(
      (prefix) =>
        prefix.length > length &&
        prefix.length > available &&
        data.compare(prefix, 0, available, at, data.length) === 0,
    );
  }

  /** Where a prefix or a parameter name may be starting in the tail of `data` (else its length). */
  #partialAt(data: Buffer, from: number): number {
    const length = data.length;
    let hold = length;
    for (const prefix of this.#prefixes) {
      for (let at = Math.max(from, length - prefix.length + 1); at < length; at++) {
        if (data.compare(prefix, 0, length - at, at, length) === 0) {
          hold = Math.min(hold, at);
          break;
        }
      }
    }
    for (let at = Math.max(from, length - LONGEST_PARAM - 1); at < length; at++) {
      const byte = data[at]!;
      if (byte !== 0x3f && byte !== 0x26) continue;
      const name = data
        .subarray(at + 1)
        .toString("latin1")
        .toLowerCase();
      if ([...URL_PARAMS].some((p) => p.startsWith(name))) {
        hold = Math.min(hold, at);
        break;
      }
    }
    return hold;
  }
}

/** The length of the longest of `members` that `data` holds in full at `at`; 0 for none. */
function matchAt(data: Buffer, at: number, members: readonly Buffer[]): number {
  let longest = 0;
  for (const member of members) {
    if (
      member.length > longest &&
      at + member.length <= data.length &&
      data.compare(member, 0, member.length, at, at + member.length) === 0
    ) {
      longest = member.length;
    }
  }
  return longest;
}

function concat(pieces: Uint8Array[]): Uint8Array {
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
