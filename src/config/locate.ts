/**
 * Where in the TOML text each key is defined, so every config problem can say `file:line`.
 *
 * smol-toml returns values without positions, so this is a second, position-only pass over text that
 * smol-toml has already accepted: it follows table headers (`[a.b]`, `[[runners]]` with its running
 * index), dotted keys, arrays (one entry per element) and inline tables, and skips the contents of
 * strings and comments. It never validates; on anything it does not understand it stops and keeps
 * what it found, and `lineOf` falls back to the nearest enclosing key or table header.
 */

/** A key path as segments: table keys and array indices, e.g. `["runners", 1, "custom", "run_exec"]`. */
export type KeyPath = readonly (string | number)[];

export interface KeyLines {
  /** The line (1-based) that defines `path`, else that of its nearest defined ancestor, else undefined. */
  lineOf(path: KeyPath): number | undefined;
}

export function locateKeys(text: string): KeyLines {
  const lines = new Map<string, number>();
  try {
    new Scanner(text, lines).document();
  } catch {
    // Unexpected input: keep the positions found so far (see the module comment).
  }
  return {
    lineOf(path) {
      for (let n = path.length; n > 0; n--) {
        const line = lines.get(pathId(path.slice(0, n)));
        if (line !== undefined) return line;
      }
      return undefined;
    },
  };
}

function pathId(path: KeyPath): string {
  return JSON.stringify(path);
}

const bareKeyChar = /[A-Za-z0-9_-]/;

class Scanner {
  private pos = 0;
  private line = 1;
  /** Elements so far of each array of tables, by its concrete path (`[[runners]]` → `["runners"]`). */
  private readonly arrayTables = new Map<string, number>();

  constructor(
    private readonly text: string,
    private readonly lines: Map<string, number>,
  ) {}

  document(): void {
    let table: KeyPath = [];
    for (;;) {
      this.skipBlank(true);
      const c = this.peek();
      if (c === undefined) return;
      if (c === "[") {
        table = this.header();
      } else {
        this.keyValue(table);
      }
    }
  }

  /** `[a.b]` or `[[a.b]]`; returns the concrete path of the table it opens. */
  private header(): KeyPath {
    const line = this.line;
    const isArray = this.text.startsWith("[[", this.pos);
    this.pos += isArray ? 2 : 1;
    const keys = this.key();
    this.skipBlank(false);
    this.expect(isArray ? "]]" : "]");
    const concrete: (string | number)[] = [];
    keys.forEach((key, i) => {
      concrete.push(key);
      const id = pathId(concrete);
      const count = this.arrayTables.get(id);
      if (i < keys.length - 1) {
        // A prefix that is an array of tables means its latest element: `[runners.custom]` → runners[n].custom.
        if (count !== undefined) concrete.push(count - 1);
        this.record(concrete, line);
      } else if (isArray) {
        this.arrayTables.set(id, (count ?? 0) + 1);
        this.record(concrete, line);
        concrete.push(count ?? 0);
      }
    });
    this.record(concrete, line);
    return concrete;
  }

  private keyValue(table: KeyPath): void {
    const line = this.line;
    const path = [...table];
    for (const key of this.key()) {
      path.push(key);
      this.record(path, line);
    }
    this.skipBlank(false);
    this.expect("=");
    this.value(path);
  }

  /** A dotted key: bare, "basic" or 'literal' parts. */
  private key(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.skipBlank(false);
      const c = this.peek();
      if (c === '"') parts.push(this.basicString());
      else if (c === "'") parts.push(this.literalString());
      else {
        const start = this.pos;
        while (this.pos < this.text.length && bareKeyChar.test(this.text.charAt(this.pos))) this.pos++;
        if (this.pos === start) throw new Error(`locate: no key at ${this.pos}`);
        parts.push(this.text.slice(start, this.pos));
      }
      this.skipBlank(false);
      if (this.peek() !== ".") return parts;
      this.pos++;
    }
  }

  private value(path: KeyPath): void {
    this.skipBlank(false);
    const c = this.peek();
    if (this.text.startsWith('"""', this.pos)) this.multiLineString('"""');
    else if (this.text.startsWith("'''", this.pos)) this.multiLineString("'''");
    else if (c === '"') this.basicString();
    else if (c === "'") this.literalString();
    else if (c === "[") this.array(path);
    else if (c === "{") this.inlineTable(path);
    else {
      // Number, boolean or date-time (which may contain a space): up to a delimiter.
      const start = this.pos;
      while (this.pos < this.text.length && !",]}#\r\n".includes(this.text.charAt(this.pos))) this.pos++;
      if (this.pos === start) throw new Error(`locate: no value at ${this.pos}`);
    }
  }

  private array(path: KeyPath): void {
    this.pos++; // [
    for (let index = 0; ; index++) {
      this.skipBlank(true);
      if (this.peek() === "]") break;
      const element = [...path, index];
      this.record(element, this.line);
      this.value(element);
      this.skipBlank(true);
      if (this.peek() === ",") this.pos++;
    }
    this.pos++; // ]
  }

  private inlineTable(path: KeyPath): void {
    this.pos++; // {
    for (;;) {
      this.skipBlank(true); // newlines inside inline tables: TOML 1.1, accepted by smol-toml
      if (this.peek() === "}") break;
      this.keyValue(path);
      this.skipBlank(true);
      if (this.peek() === ",") this.pos++;
    }
    this.pos++; // }
  }

  private basicString(): string {
    const start = ++this.pos;
    while (this.pos < this.text.length && this.text.charAt(this.pos) !== '"') {
      if (this.text.charAt(this.pos) === "\\") this.pos++;
      this.pos++;
    }
    const raw = this.text.slice(start, this.pos++);
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      return raw; // TOML-only escapes (\e, \U...): good enough for a key name
    }
  }

  private literalString(): string {
    const start = ++this.pos;
    const end = this.text.indexOf("'", start);
    if (end < 0) throw new Error("locate: unterminated string");
    this.pos = end + 1;
    return this.text.slice(start, end);
  }

  private multiLineString(quote: '"""' | "'''"): void {
    this.pos += 3;
    for (;;) {
      if (this.pos >= this.text.length) throw new Error("locate: unterminated string");
      const c = this.text.charAt(this.pos);
      if (quote === '"""' && c === "\\") {
        if (this.text.charAt(this.pos + 1) === "\n") this.line++;
        this.pos += 2;
      } else if (this.text.startsWith(quote, this.pos)) {
        this.pos += 3;
        // Up to two more quotes belong to the content: `""""` ends with one quote inside.
        while (this.text.charAt(this.pos) === quote.charAt(0)) this.pos++;
        return;
      } else {
        if (c === "\n") this.line++;
        this.pos++;
      }
    }
  }

  /** Skips spaces, tabs and comments; newlines too when `newlines`. */
  private skipBlank(newlines: boolean): void {
    while (this.pos < this.text.length) {
      const c = this.text.charAt(this.pos);
      if (c === " " || c === "\t" || c === "\r") this.pos++;
      else if (c === "\n" && newlines) {
        this.line++;
        this.pos++;
      } else if (c === "#") {
        while (this.pos < this.text.length && this.text.charAt(this.pos) !== "\n") this.pos++;
      } else return;
    }
  }

  private peek(): string | undefined {
    return this.pos < this.text.length ? this.text.charAt(this.pos) : undefined;
  }

  private expect(token: string): void {
    if (!this.text.startsWith(token, this.pos)) throw new Error(`locate: expected ${token} at ${this.pos}`);
    this.pos += token.length;
  }

  /** First definition wins: a later dotted key or sub-table does not move its parent. */
  private record(path: KeyPath, line: number): void {
    const id = pathId(path);
    if (!this.lines.has(id)) this.lines.set(id, line);
  }
}
