/**
 * Where a JSON text stops being JSON. Bun's `JSON.parse` error says what it disliked but not where,
 * and a person fixing a job file needs the line and column; so when `JSON.parse` fails, this scanner
 * walks the text once more to find the first offending offset. It is iterative (an explicit stack),
 * so a hostile file of a million `[` cannot overflow the call stack, and it never runs on valid input.
 */

export interface JsonSyntaxError {
  /** 0-based offset into the text (UTF-16 code units). */
  offset: number;
  line: number;
  column: number;
  /** What the scanner expected, e.g. "a value", "',' or '}'". */
  expected: string;
  /** What it found instead, quoted, or "end of input". */
  found: string;
}

const numberPattern = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const escapePattern = /["\\/bfnrt]|u[0-9a-fA-F]{4}/y;

/** The first syntax error in `text`, or undefined when `text` is valid JSON. */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  const stack: Array<"[" | "{"> = [];
  let i = 0;
  const fail = (expected: string): JsonSyntaxError => locate(text, i, expected);
  const skipWs = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      i++;
    }
  };
  /** Scans a string starting at the opening quote; returns false (i at the culprit) when invalid. */
  const scanString = (): boolean => {
    i++;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c === 0x5c) {
        escapePattern.lastIndex = i + 1;
        if (!escapePattern.test(text)) {
          i++;
          return false;
        }
        i = escapePattern.lastIndex;
      } else {
        i++;
      }
    }
    return false;
  };
  /** Scans `"key" :` (i at the quote); returns what was expected when it is not there. */
  const scanKey = (): string | undefined => {
    if (text[i] !== '"') return "a string key";
    if (!scanString()) return "a valid string";
    skipWs();
    if (text[i] !== ":") return "':'";
    i++;
    return undefined;
  };

  // The state is "a value is expected here" (top of the loop) or "a value just ended" (inner loop).
  for (;;) {
    skipWs();
    const c = text[i];
    if (c === "{" || c === "[") {
      stack.push(c);
      i++;
      skipWs();
      const close = c === "{" ? "}" : "]";
      if (text[i] === close) {
        stack.pop();
        i++;
      } else {
        const missing = c === "{" ? scanKey() : undefined;
        if (missing !== undefined) return fail(missing === "a string key" ? "a string key or '}'" : missing);
        continue;
      }
    } else if (c === '"') {
      if (!scanString()) return fail("a valid string");
    } else if (c === "t" || c === "f" || c === "n") {
      const word = c === "t" ? "true" : c === "f" ? "false" : "null";
      if (!text.startsWith(word, i)) return fail("a value");
      i += word.length;
    } else {
      numberPattern.lastIndex = i;
      if (c === undefined || !numberPattern.test(text)) return fail("a value");
      i = numberPattern.lastIndex;
    }
    // A value ended: close containers or find the separator before the next value.
    for (;;) {
      skipWs();
      const top = stack[stack.length - 1];
      if (top === undefined) return i === text.length ? undefined : fail("end of input");
      const close = top === "{" ? "}" : "]";
      if (text[i] === close) {
        stack.pop();
        i++;
        continue;
      }
      if (text[i] !== ",") return fail(`',' or '${close}'`);
      i++;
      if (top === "{") {
        skipWs();
        const missing = scanKey();
        if (missing !== undefined) return fail(missing);
      }
      break;
    }
  }
}

function locate(text: string, offset: number, expected: string): JsonSyntaxError {
  let line = 1;
  let lineStart = 0;
  for (let j = text.indexOf("\n"); j !== -1 && j < offset; j = text.indexOf("\n", j + 1)) {
    line++;
    lineStart = j + 1;
  }
  const ch = text.codePointAt(offset);
  const found = ch === undefined ? "end of input" : JSON.stringify(String.fromCodePoint(ch));
  return { offset, line, column: offset - lineStart + 1, expected, found };
}
