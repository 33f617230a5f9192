/**
 * Typed reads from one parsed TOML table, recording a problem for every wrong type and a warning for
 * every key nobody read. Validation code reads the keys it knows; `finish()` reports the rest.
 *
 * Tables come from smol-toml with `integersAsBigInt: true`, so integers (`3`) are bigints and floats
 * (`3.0`) are numbers: an integer key given a float is an error, as in GitLab's Go parser.
 */
import { TomlDate, type TomlTable, type TomlValue } from "smol-toml";
import type { KeyPath } from "./locate.ts";
import type { JsonObject, JsonValue } from "./model.ts";
import type { ProblemList } from "./problems.ts";

export function isTable(value: TomlValue | undefined): value is TomlTable {
  return typeof value === "object" && !Array.isArray(value) && !(value instanceof Date);
}

/** A value as a message shows it after "got": `integer 3`, `string "x"`, `table`. */
export function describe(value: TomlValue): string {
  if (typeof value === "string") {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return `string ${JSON.stringify(shown)}`;
  }
  if (typeof value === "bigint") return `integer ${value}`;
  if (typeof value === "number") return `float ${floatText(value)}`;
  if (typeof value === "boolean") return `boolean ${value}`;
  if (value instanceof Date) return `date-time ${value.toISOString()}`;
  if (Array.isArray(value)) return "array";
  return "table";
}

/** TOML's spelling of the non-finite floats. */
function floatText(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  return String(value);
}

/** A TOML value as plain JSON (for plugin settings and the raw runner section); undefined after a problem. */
export function toJson(value: TomlValue, path: KeyPath, problems: ProblemList): JsonValue | undefined {
  if (typeof value === "bigint") {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      problems.error(path, `integer ${value} is too large to pass on (at most 2^53-1)`);
      return undefined;
    }
    return Number(value);
  }
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value;
    problems.error(path, `${describe(value)} cannot be passed on as JSON`);
    return undefined;
  }
  if (typeof value === "string" || typeof value === "boolean") return value;
  // TomlDate keeps TOML's forms (local date, local time, offset date-time) in toISOString.
  if (value instanceof TomlDate || value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) {
    const out: JsonValue[] = [];
    let ok = true;
    value.forEach((item, i) => {
      const json = toJson(item, [...path, i], problems);
      if (json === undefined) ok = false;
      else out.push(json);
    });
    return ok ? out : undefined;
  }
  return tableToJson(value, path, problems);
}

export function tableToJson(table: TomlTable, path: KeyPath, problems: ProblemList): JsonObject | undefined {
  const entries: [string, JsonValue][] = [];
  let ok = true;
  for (const [key, item] of Object.entries(table)) {
    const json = toJson(item, [...path, key], problems);
    if (json === undefined) ok = false;
    else entries.push([key, json]);
  }
  // fromEntries defines own properties: a `__proto__` key in the file stays a plain key.
  return ok ? Object.fromEntries(entries) : undefined;
}

/** `{ [key]: value }` when value is defined, else `{}`: for optional properties under exactOptionalPropertyTypes. */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

export class TableReader {
  private readonly read = new Set<string>();

  constructor(
    readonly problems: ProblemList,
    readonly path: KeyPath,
    readonly table: TomlTable,
  ) {}

  at(...keys: (string | number)[]): KeyPath {
    return [...this.path, ...keys];
  }

  /** The raw value (marks the key as known). */
  get(key: string): TomlValue | undefined {
    this.read.add(key);
    return Object.hasOwn(this.table, key) ? this.table[key] : undefined;
  }

  /** Keys drover accepts and ignores (GitLab settings that mean nothing here). */
  ignore(...keys: string[]): void {
    for (const key of keys) this.read.add(key);
  }

  /** Warns about every key not read or ignored. Call last. */
  finish(): void {
    for (const key of Object.keys(this.table)) {
      if (!this.read.has(key)) this.problems.warning(this.at(key), "unknown key, ignored");
    }
  }

  wrongType(key: string | number, expected: string, value: TomlValue): undefined {
    this.problems.error(this.at(key), `expected ${expected}, got ${describe(value)}`);
    return undefined;
  }

  string(key: string): string | undefined {
    const value = this.get(key);
    if (value === undefined || typeof value === "string") return value;
    return this.wrongType(key, "a string", value);
  }

  boolean(key: string): boolean | undefined {
    const value = this.get(key);
    if (value === undefined || typeof value === "boolean") return value;
    return this.wrongType(key, "a boolean", value);
  }

  /** An integer that fits a JS number, at least `min` when given. */
  integer(key: string, rule?: { min: number; expected: string }): number | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    if (typeof value !== "bigint") return this.wrongType(key, rule?.expected ?? "an integer", value);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      return this.wrongType(key, "a smaller integer", value);
    }
    if (rule !== undefined && value < BigInt(rule.min)) return this.wrongType(key, rule.expected, value);
    return Number(value);
  }

  /** GitLab's "≤0 means the default" integers (timeouts, request_concurrency, output_limit). */
  positiveOrDefault(key: string, fallback: number): number {
    const value = this.integer(key);
    return value === undefined || value <= 0 ? fallback : value;
  }

  /** drover's own durations: a positive number of seconds, fractions allowed. */
  positiveSeconds(key: string): number | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    const n = typeof value === "bigint" ? Number(value) : typeof value === "number" ? value : Number.NaN;
    if (!(n > 0 && Number.isFinite(n))) return this.wrongType(key, "a positive number of seconds", value);
    return n;
  }

  subTable(key: string, expected = "a table"): TomlTable | undefined {
    const value = this.get(key);
    if (value === undefined || isTable(value)) return value;
    return this.wrongType(key, expected, value);
  }

  /** An array of strings; each bad element is its own problem. */
  stringArray(key: string): string[] | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) return this.wrongType(key, "an array of strings", value);
    const out: string[] = [];
    let ok = true;
    value.forEach((item, i) => {
      if (typeof item === "string") out.push(item);
      else {
        ok = false;
        this.problems.error(this.at(key, i), `expected a string, got ${describe(item)}`);
      }
    });
    return ok ? out : undefined;
  }

  /** An opaque table as JSON (plugin settings). */
  json(key: string): JsonObject | undefined {
    const table = this.subTable(key);
    return table === undefined ? undefined : tableToJson(table, this.at(key), this.problems);
  }
}
