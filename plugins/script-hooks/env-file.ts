/**
 * The environment files a hook writes (docs/hooks.md), read the way GitHub's runner reads them
 * (actions/runner src/Runner.Worker/FileCommandManager.cs: `EnvFileKeyValuePairs`,
 * `SetEnvFileCommand`, `AddPathFileCommand`).
 *
 * GITHUB_ENV, one entry per line, empty lines skipped, lines split at "\n" only (a "\r" stays in
 * the value, as on GitHub's Linux runner):
 *  - `NAME=value`: the value is everything after the first `=` and may contain `<<`;
 *  - `NAME<<DELIM` … `DELIM`: the lines in between, joined by "\n". It is a heredoc when `<<` comes
 *    before any `=`, or when only white space separates an `=` from `<<` (`NAME=<<EOF`), so that a
 *    delimiter may contain `=` (base64). The delimiter must be a whole line of its own, matched
 *    exactly; a value line that merely contains it (` EOF`, `EOF EOF`) is value.
 *  - Errors stop the file there, as on GitHub (what came before still applies): a line that is
 *    neither form, an empty name or delimiter, a missing delimiter, a delimiter without its "\n".
 *  - `NODE_OPTIONS` is refused (an error, the rest of the file still applies).
 *
 * drover refuses two things GitHub lets through, because they cannot be passed to a process: a
 * name containing `=` (GitHub stores `NAME=<<EOF` under the name "NAME=") and a NUL character.
 * GitHub's empty-name check tests the wrong variable and lets `=value` set the variable ""; drover
 * reports it with the message GitHub meant to give.
 *
 * GITHUB_PATH: one directory per line ("\n", "\r\n" or "\r"), empty lines skipped, no trimming.
 * Every error names the file and the line.
 */

import { isWhiteSpace } from "./dotnet-text.ts";

export interface EnvFileVariable {
  name: string;
  value: string;
  /** The line the entry starts on (1-based). */
  line: number;
}

export interface FileCommandProblem {
  line: number;
  /** Names the file and the line: `$GITHUB_ENV line 3: Invalid format 'x'`. */
  message: string;
  /** Processing stopped here; GitHub fails the step ("Unable to process file command"). */
  fatal: boolean;
}

export interface EnvFileResult {
  /** In file order; a later entry for the same name wins. */
  variables: EnvFileVariable[];
  problems: FileCommandProblem[];
}

export interface PathFileResult {
  /** In file order: each is put in front of PATH in turn, so the last line ends up first. */
  paths: string[];
  problems: FileCommandProblem[];
}

/** Refused in GITHUB_ENV, as on GitHub (SetEnvFileCommand's block list). */
const BLOCKED_NAMES = ["NODE_OPTIONS"];

/** A line and the newline that ended it (undefined at the end of the text), as GitHub's ReadLine. */
interface Line {
  text: string;
  newline: string | undefined;
}

class LineReader {
  index = 0;
  number = 0;
  constructor(readonly text: string) {}

  read(): Line | undefined {
    const { text } = this;
    if (this.index >= text.length) return undefined;
    this.number++;
    const start = this.index;
    const lf = text.indexOf("\n", start);
    if (lf < 0) {
      this.index = text.length;
      return { text: text.slice(start), newline: undefined };
    }
    this.index = lf + 1;
    return { text: text.slice(start, lf), newline: "\n" };
  }
}

function stripBom(text: string): string {
  return text.startsWith("\uFEFF") ? text.slice(1) : text;
}

/** GitHub's OnlyContainsWhiteSpaceBetweenPositions (exclusive on both ends). */
function onlyWhiteSpaceBetween(text: string, from: number, to: number): boolean {
  for (let at = from + 1; at < to; at++) if (!isWhiteSpace(text.charAt(at))) return false;
  return true;
}

/**
 * Parses the content of a GITHUB_ENV file. Never throws.
 *
 * @param label how messages name the file, e.g. "$GITHUB_ENV".
 */
export function parseEnvFile(content: string, label = "$GITHUB_ENV"): EnvFileResult {
  const result: EnvFileResult = { variables: [], problems: [] };
  const reader = new LineReader(stripBom(content));
  const fatal = (line: number, message: string): EnvFileResult => {
    result.problems.push({ line, message: `${label} line ${line}: ${message}`, fatal: true });
    return result;
  };

  for (let line = reader.read(); line !== undefined; line = reader.read()) {
    const text = line.text;
    if (text === "") continue;
    const lineNumber = reader.number;
    const equals = text.indexOf("=");
    const heredoc = text.indexOf("<<");
    const isHeredoc =
      heredoc >= 0 &&
      (equals < 0 || heredoc < equals || (heredoc > equals && onlyWhiteSpaceBetween(text, equals, heredoc)));

    let name: string;
    let value: string;
    if (isHeredoc) {
      name = text.slice(0, heredoc);
      const delimiter = text.slice(heredoc + 2);
      if (name === "" || delimiter === "")
        return fatal(
          lineNumber,
          `Invalid format '${text}'. Name must not be empty and delimiter must not be empty`,
        );
      const start = reader.index;
      let end = start;
      for (;;) {
        const next = reader.read();
        if (next === undefined)
          return fatal(lineNumber, `Invalid value. Matching delimiter not found '${delimiter}'`);
        if (next.text === delimiter) break;
        if (next.newline === undefined)
          return fatal(reader.number, "Invalid value. EOF marker missing new line.");
        end = reader.index - next.newline.length;
      }
      value = end > start ? reader.text.slice(start, end) : "";
    } else if (equals >= 0) {
      name = text.slice(0, equals);
      value = text.slice(equals + 1);
      if (name === "") return fatal(lineNumber, `Invalid format '${text}'. Name must not be empty`);
    } else {
      return fatal(lineNumber, `Invalid format '${text}'`);
    }

    if (name.includes("=")) return fatal(lineNumber, `Invalid format '${text}'. Name must not contain '='`);
    if (name.includes("\0") || value.includes("\0"))
      return fatal(
        lineNumber,
        `Invalid value for '${name.replaceAll("\0", "\\0")}': it contains a NUL character`,
      );
    const blocked = BLOCKED_NAMES.find((b) => b.toLowerCase() === name.toLowerCase());
    if (blocked !== undefined) {
      result.problems.push({
        line: lineNumber,
        message: `${label} line ${lineNumber}: Can't store ${blocked} output parameter using '$GITHUB_ENV' command.`,
        fatal: false,
      });
      continue;
    }
    result.variables.push({ name, value, line: lineNumber });
  }
  return result;
}

/** Parses the content of a GITHUB_PATH file (`File.ReadAllLines`: "\n", "\r\n" or "\r"). Never throws. */
export function parsePathFile(content: string, label = "$GITHUB_PATH"): PathFileResult {
  const result: PathFileResult = { paths: [], problems: [] };
  const lines = stripBom(content).split(/\r\n|\r|\n/);
  // A final line terminator does not start another line.
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  lines.forEach((line, i) => {
    if (line === "") return;
    if (line.includes("\0")) {
      result.problems.push({
        line: i + 1,
        message: `${label} line ${i + 1}: Invalid path: it contains a NUL character`,
        fatal: false,
      });
      return;
    }
    result.paths.push(line);
  });
  return result;
}

/**
 * The directories to prepend, in the order to prepend them: a path added twice counts once, at
 * its last position (GitHub removes the earlier entry before adding it again).
 */
export function dedupePaths(paths: readonly string[]): string[] {
  return paths.filter((path, i) => paths.lastIndexOf(path) === i);
}
