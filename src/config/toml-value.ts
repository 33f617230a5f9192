/**
 * Values as drover writes them into config.toml (runner sections it adds, tokens it rotates): the
 * plain TOML forms GitLab Runner's encoder writes too. Date-times are in `token-time.ts`.
 */

/**
 * A TOML basic string: `"..."` with `\` and `"` escaped, and every control character as an escape
 * (TOML forbids them raw). A lone UTF-16 surrogate cannot be written in any TOML string: it throws.
 *
 * @example
 * tomlString('C:\\drover "x"') // "\"C:\\\\drover \\\"x\\\"\""
 */
export function tomlString(value: string): string {
  // In a `u` regular expression a surrogate pair is one code point: only lone halves match.
  if (/\p{Cs}/u.test(value)) throw new Error(`${JSON.stringify(value)} is not valid Unicode`);
  let out = '"';
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"') out += '\\"';
    else if (char === "\\") out += "\\\\";
    else if (char === "\b") out += "\\b";
    else if (char === "\t") out += "\\t";
    else if (char === "\n") out += "\\n";
    else if (char === "\f") out += "\\f";
    else if (char === "\r") out += "\\r";
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).toUpperCase().padStart(4, "0")}`;
    else out += char;
  }
  return `${out}"`;
}

/** A TOML integer; throws for anything that is not a safe integer. */
export function tomlInteger(value: number): string {
  if (!Number.isSafeInteger(value)) throw new Error(`${value} is not an integer drover can write`);
  return String(value);
}
