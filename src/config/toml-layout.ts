/**
 * Where things are in a config.toml text, as character offsets: every table (header and extent) and
 * every key defined directly in it (its line and its value). What `runner-sections.ts` needs to
 * change a file the way a person would with an editor: add, replace or remove a few lines, and leave
 * every other byte, comments included, as the administrator wrote it.
 *
 * Like `locate.ts` (which finds lines for error messages), this is a second, position-only pass over
 * text smol-toml has already accepted: it follows headers, keys and values (strings of the four
 * kinds, arrays and inline tables over several lines, comments) and never validates. Unlike
 * `locate.ts` it does not keep going on surprises: an edit in the wrong place would be worse than no
 * edit, so anything it does not understand throws.
 */

/** One `key = value` line of a table. */
export interface TomlKeyLine {
  /** The key as written, relative to its table: `["token"]`, or `["custom", "run_exec"]` for a dotted key. */
  key: string[];
  /** Offset of the start of the line the key is on (its indentation included). */
  lineStart: number;
  /** The value's text is `text.slice(valueStart, valueEnd)` (no surrounding blanks, no comment). */
  valueStart: number;
  valueEnd: number;
  /** Offset just past the end of the statement's last line (past its "\n"), or the text's length. */
  lineEnd: number;
}

/** One table: the root (before any header), a `[table]` or one `[[array]]` element. */
export interface TomlTableLayout {
  /** The header's key path; `[]` for the root table. */
  path: string[];
  /** `[[path]]`: an element of an array of tables. */
  array: boolean;
  /** Offset of the start of the header's line (0 for the root table). */
  start: number;
  /** Offset just past the header line (`start` for the root table). */
  bodyStart: number;
  /** Offset of the start of the next header's line, or the text's length. */
  end: number;
  /** The keys defined in this table, in text order. */
  keys: TomlKeyLine[];
}

/** Every table of `text`, in text order, the root table first. Throws on text it cannot follow. */
export function tomlLayout(text: string): TomlTableLayout[] {
  return new LayoutScanner(text).document();
}

const bareKeyChar = /[A-Za-z0-9_-]/;

class LayoutScanner {
  #pos = 0;
  readonly #text: string;

  constructor(text: string) {
    this.#text = text;
  }

  document(): TomlTableLayout[] {
    const tables: TomlTableLayout[] = [{ path: [], array: false, start: 0, bodyStart: 0, end: 0, keys: [] }];
    for (;;) {
      this.#skipBlank(true);
      if (this.#pos >= this.#text.length) break;
      const lineStart = this.#lineStartOf(this.#pos);
      if (this.#peek() === "[") {
        const { path, array } = this.#header();
        this.#endOfLine();
        const previous = tables.at(-1);
        if (previous) previous.end = lineStart;
        tables.push({ path, array, start: lineStart, bodyStart: this.#pos, end: 0, keys: [] });
      } else {
        const key = this.#key();
        this.#skipBlank(false);
        this.#expect("=");
        this.#skipBlank(false);
        const valueStart = this.#pos;
        this.#value();
        const valueEnd = this.#pos;
        this.#endOfLine();
        tables.at(-1)?.keys.push({ key, lineStart, valueStart, valueEnd, lineEnd: this.#pos });
      }
    }
    const last = tables.at(-1);
    if (last) last.end = this.#text.length;
    return tables;
  }

  /** `[a.b]` or `[[a.b]]`. */
  #header(): { path: string[]; array: boolean } {
    const array = this.#text.startsWith("[[", this.#pos);
    this.#pos += array ? 2 : 1;
    const path = this.#key();
    this.#skipBlank(false);
    this.#expect(array ? "]]" : "]");
    return { path, array };
  }

  /** After a statement: blanks, an optional comment, then a newline or the end of the text. */
  #endOfLine(): void {
    this.#skipBlank(false);
    if (this.#pos >= this.#text.length) return;
    if (this.#text.startsWith("\r\n", this.#pos)) this.#pos += 2;
    else if (this.#peek() === "\n") this.#pos++;
    else throw this.#unexpected("the end of the line");
  }

  /** A dotted key: bare, "basic" or 'literal' parts. */
  #key(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.#skipBlank(false);
      const c = this.#peek();
      if (c === '"') parts.push(this.#basicString());
      else if (c === "'") parts.push(this.#literalString());
      else {
        const start = this.#pos;
        while (this.#pos < this.#text.length && bareKeyChar.test(this.#text.charAt(this.#pos))) this.#pos++;
        if (this.#pos === start) throw this.#unexpected("a key");
        parts.push(this.#text.slice(start, this.#pos));
      }
      this.#skipBlank(false);
      if (this.#peek() !== ".") return parts;
      this.#pos++;
    }
  }

  #value(): void {
    const c = this.#peek();
    if (this.#text.startsWith('"""', this.#pos)) this.#multiLineString('"""');
    else if (this.#text.startsWith("'''", this.#pos)) this.#multiLineString("'''");
    else if (c === '"') this.#basicString();
    else if (c === "'") this.#literalString();
    else if (c === "[") this.#array();
    else if (c === "{") this.#inlineTable();
    else {
      // Number, boolean or date-time (which may contain one space): up to a delimiter, then back
      // over trailing blanks.
      const start = this.#pos;
      while (this.#pos < this.#text.length && !",]}#\r\n".includes(this.#text.charAt(this.#pos))) this.#pos++;
      while (this.#pos > start && " \t".includes(this.#text.charAt(this.#pos - 1))) this.#pos--;
      if (this.#pos === start) throw this.#unexpected("a value");
    }
  }

  #array(): void {
    this.#pos++; // [
    for (;;) {
      this.#skipBlank(true);
      if (this.#peek() === "]") break;
      this.#value();
      this.#skipBlank(true);
      if (this.#peek() === ",") this.#pos++;
      else if (this.#peek() !== "]") throw this.#unexpected('"," or "]"');
    }
    this.#pos++; // ]
  }

  #inlineTable(): void {
    this.#pos++; // {
    for (;;) {
      this.#skipBlank(true); // newlines inside inline tables: TOML 1.1, accepted by smol-toml
      if (this.#peek() === "}") break;
      this.#key();
      this.#skipBlank(false);
      this.#expect("=");
      this.#skipBlank(false);
      this.#value();
      this.#skipBlank(true);
      if (this.#peek() === ",") this.#pos++;
      else if (this.#peek() !== "}") throw this.#unexpected('"," or "}"');
    }
    this.#pos++; // }
  }

  #basicString(): string {
    const start = ++this.#pos;
    while (this.#pos < this.#text.length && this.#text.charAt(this.#pos) !== '"') {
      if (this.#text.charAt(this.#pos) === "\\") this.#pos++;
      this.#pos++;
    }
    if (this.#pos >= this.#text.length) throw this.#unexpected("the end of a string");
    const raw = this.#text.slice(start, this.#pos++);
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      return raw; // TOML-only escapes (\e, \U...): only used to compare key names
    }
  }

  #literalString(): string {
    const start = ++this.#pos;
    const end = this.#text.indexOf("'", start);
    if (end < 0) throw this.#unexpected("the end of a string");
    this.#pos = end + 1;
    return this.#text.slice(start, end);
  }

  #multiLineString(quote: '"""' | "'''"): void {
    this.#pos += 3;
    for (;;) {
      if (this.#pos >= this.#text.length) throw this.#unexpected("the end of a string");
      if (quote === '"""' && this.#text.charAt(this.#pos) === "\\") {
        this.#pos += 2;
      } else if (this.#text.startsWith(quote, this.#pos)) {
        this.#pos += 3;
        // Up to two more quotes belong to the content: `""""` ends with one quote inside.
        while (this.#text.charAt(this.#pos) === quote.charAt(0)) this.#pos++;
        return;
      } else {
        this.#pos++;
      }
    }
  }

  /** Skips spaces, tabs and comments; newlines too when `newlines`. */
  #skipBlank(newlines: boolean): void {
    while (this.#pos < this.#text.length) {
      const c = this.#text.charAt(this.#pos);
      if (c === " " || c === "\t") this.#pos++;
      else if (newlines && (c === "\n" || c === "\r")) this.#pos++;
      else if (c === "#") {
        while (this.#pos < this.#text.length && !"\r\n".includes(this.#text.charAt(this.#pos))) this.#pos++;
      } else return;
    }
  }

  #peek(): string | undefined {
    return this.#pos < this.#text.length ? this.#text.charAt(this.#pos) : undefined;
  }

  #expect(token: string): void {
    if (!this.#text.startsWith(token, this.#pos)) throw this.#unexpected(JSON.stringify(token));
    this.#pos += token.length;
  }

  #lineStartOf(offset: number): number {
    return this.#text.lastIndexOf("\n", offset - 1) + 1;
  }

  #unexpected(expected: string): Error {
    const line = this.#text.slice(0, this.#pos).split("\n").length;
    return new Error(`line ${line}: expected ${expected}`);
  }
}
