/**
 * The few .NET string operations GitHub's runner (C#) uses to parse workflow commands and
 * environment files, reproduced exactly: which characters count as white space, and
 * `String.Split(separator, count, StringSplitOptions.RemoveEmptyEntries)`. The parsers depend on
 * their corner cases (`k==v` is `k` = `v`, a leading `=` is skipped), so they are written out
 * rather than approximated with `String.prototype.split`/`trim`.
 */

/** `char.IsWhiteSpace`: Unicode Zs/Zl/Zp plus U+0009–U+000D and U+0085 (not U+FEFF, unlike JS `trim`). */
const WHITE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

export function isWhiteSpace(char: string): boolean {
  return WHITE_SPACE.test(char);
}

/** `String.TrimStart()`. */
export function trimStart(text: string): string {
  let at = 0;
  while (at < text.length && isWhiteSpace(text.charAt(at))) at++;
  return text.slice(at);
}

/** `String.Trim()`. */
export function trim(text: string): string {
  let end = text.length;
  while (end > 0 && isWhiteSpace(text.charAt(end - 1))) end--;
  return trimStart(text.slice(0, end));
}

/** `String.IsNullOrWhiteSpace` for a non-null string. */
export function isBlank(text: string): boolean {
  for (const char of text) if (!isWhiteSpace(char)) return false;
  return true;
}

/**
 * `text.Split(separator, count, StringSplitOptions.RemoveEmptyEntries)` (.NET Core's
 * SplitWithPostProcessing): empty pieces are dropped and do not count toward `count`; once
 * `count - 1` pieces are taken, the rest of the string (after skipping separators that would only
 * produce empty pieces) is the last piece.
 */
export function splitRemoveEmpty(
  text: string,
  separator: string,
  count = Number.POSITIVE_INFINITY,
): string[] {
  if (count <= 0) return [];
  const pieces: string[] = [];
  let from = 0;
  if (count > 1) {
    for (let at = text.indexOf(separator); at >= 0; at = text.indexOf(separator, from)) {
      const piece = text.slice(from, at);
      from = at + separator.length;
      if (piece !== "") pieces.push(piece);
      if (pieces.length === count - 1) {
        // Skip the empty pieces before the final one.
        while (text.startsWith(separator, from)) from += separator.length;
        break;
      }
    }
  }
  const last = text.slice(from);
  if (last !== "") pieces.push(last);
  return pieces;
}

/**
 * `int.TryParse(value, out n)` with the default NumberStyles.Integer: optional ASCII white space
 * around an optional sign and ASCII digits, within the range of a 32-bit signed integer.
 */
export function tryParseInt32(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^[\t\n\v\f\r ]*([+-]?)0*(\d+)[\t\n\v\f\r ]*$/.exec(value);
  if (!match) return undefined;
  const digits = match[2] ?? "";
  if (digits.length > 10) return undefined;
  const n = Number(`${match[1] ?? ""}${digits}`);
  return n >= -2147483648 && n <= 2147483647 ? n : undefined;
}

/**
 * `bool.TryParse(value, out b)`: "true" or "false" in any case, with white space and NUL characters
 * around it ignored; anything else (`1`, `yes`, empty, missing) is no boolean.
 */
export function tryParseBoolean(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  let start = 0;
  let end = value.length;
  const ignored = (char: string) => char === "\0" || isWhiteSpace(char);
  while (start < end && ignored(value.charAt(start))) start++;
  while (end > start && ignored(value.charAt(end - 1))) end--;
  const word = value.slice(start, end).toLowerCase();
  return word === "true" ? true : word === "false" ? false : undefined;
}
