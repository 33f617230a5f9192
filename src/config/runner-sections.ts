/**
 * The `[[runners]]` sections of a config.toml text, and the three edits drover makes to them:
 * append one (`drover register`), remove some (`drover unregister`, `drover verify --delete`), set a
 * few keys of one (`drover run` writing back a rotated token). Text in, text out: every byte outside
 * the lines an edit is about stays as the administrator wrote it, comments included. GitLab Runner
 * re-encodes the whole file instead, which drops every comment; a file drover edits keeps them.
 *
 * What belongs to a runner: its `[[runners]]` header and keys, and every `[runners.x]` /
 * `[[runners.x]]` table that follows it (TOML attaches those to the latest runner, even after an
 * unrelated table such as `[hooks]`). A comment block directly above a header (no blank line
 * between) is that table's own: removing a runner removes its comment, and leaves the next one's.
 *
 * @example
 * const text = appendRunnerSection(old, '[[runners]]\n  name = "b"\n');
 * const without = removeRunnerSections(text, [0]);
 * const rotated = setRunnerKeys(text, 1, [["token", '"glrt-new"']]);
 */
import { type TomlTableLayout, tomlLayout } from "./toml-layout.ts";

/** One `[[runners]]` element: its own table and all its sub-tables, in text order. */
export interface RunnerSection {
  /** Position in the `runners` array (and among the `[[runners]]` headers). */
  index: number;
  /** The `[[runners]]` table itself. */
  table: TomlTableLayout;
  /** `table` and every `[runners.x]` table attached to it. */
  tables: TomlTableLayout[];
}

/** Why a config text cannot be edited as sections. */
export class SectionEditError extends Error {
  override readonly name = "SectionEditError";
}

/**
 * The runner sections of `text`. Throws SectionEditError when the runners are not written as
 * `[[runners]]` sections (an inline `runners = [...]` array cannot be edited line by line).
 */
export function runnerSections(text: string): RunnerSection[] {
  return sectionsOf(text).sections;
}

function sectionsOf(text: string): { layout: TomlTableLayout[]; sections: RunnerSection[] } {
  let layout: TomlTableLayout[];
  try {
    layout = tomlLayout(text);
  } catch (err) {
    throw new SectionEditError(`cannot follow the file's layout: ${(err as Error).message}`);
  }
  const sections: RunnerSection[] = [];
  for (const table of layout) {
    const [first, ...rest] = table.path;
    if (table.path.length === 0) {
      if (table.keys.some((k) => k.key[0] === "runners"))
        throw new SectionEditError(
          "its runners are written as an inline array (runners = [...]): drover edits [[runners]] sections only",
        );
    } else if (first === "runners" && rest.length === 0) {
      if (!table.array)
        throw new SectionEditError("it has a [runners] table where [[runners]] sections are expected");
      sections.push({ index: sections.length, table, tables: [table] });
    } else if (first === "runners") {
      const owner = sections.at(-1);
      if (owner === undefined)
        throw new SectionEditError(`it has a [${table.path.join(".")}] table before any [[runners]] section`);
      owner.tables.push(table);
    } else if (table.keys.some((k) => k.key[0] === "runners")) {
      throw new SectionEditError(`a runners key in [${table.path.join(".")}] is not a runner section`);
    }
  }
  return { layout, sections };
}

/**
 * `text` with `section` (a complete `[[runners]]` section, ending in a newline) added at the end,
 * after one blank line.
 */
export function appendRunnerSection(text: string, section: string): string {
  let base = text;
  if (base !== "" && !base.endsWith("\n")) base += "\n";
  if (base.trim() !== "" && !base.endsWith("\n\n")) base += "\n";
  return base + section;
}

/** `text` without the runner sections at `indices` (their sub-tables and own comments included). */
export function removeRunnerSections(text: string, indices: readonly number[]): string {
  const { layout, sections } = sectionsOf(text);
  // Where statements end: a comment block never reaches above one (the last line of a multi-line
  // string may start with "#" and is no comment).
  const statementEnds = layout.flatMap((t) => [t.bodyStart, ...t.keys.map((k) => k.lineEnd)]);
  const commentStart = (lineStart: number) =>
    leadingCommentStart(text, lineStart, Math.max(0, ...statementEnds.filter((e) => e <= lineStart)));
  const ranges: Array<[number, number]> = [];
  for (const index of indices) {
    const section = sections[index];
    if (section === undefined) throw new SectionEditError(`there is no runners[${index}] section`);
    for (const table of section.tables) {
      const end = table.end === text.length ? text.length : commentStart(table.end);
      ranges.push([commentStart(table.start), end]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  let out = "";
  let at = 0;
  for (const [start, end] of ranges) {
    if (start > at) out += text.slice(at, start);
    at = Math.max(at, end);
  }
  const reachedEnd = at >= text.length;
  out += text.slice(at);
  // Removing the last section leaves the blank lines that separated it: keep one line end.
  return reachedEnd ? out.replace(/(\r?\n)[ \t\r\n]*$/, "$1") : out;
}

/**
 * `text` with keys of the runner section at `index` set: a key written directly in its
 * `[[runners]]` table gets the new value in place (its line, indentation and trailing comment
 * kept); a missing key is added after the table's last key, indented like it. `values` are TOML
 * value texts (`'"glrt-x"'`, `"2024-05-01T12:00:00Z"`).
 */
export function setRunnerKeys(
  text: string,
  index: number,
  values: ReadonlyArray<readonly [key: string, tomlValue: string]>,
): string {
  const section = sectionsOf(text).sections[index];
  if (section === undefined) throw new SectionEditError(`there is no runners[${index}] section`);
  const { table } = section;
  const replacements: Array<{ start: number; end: number; text: string }> = [];
  const missing: Array<readonly [string, string]> = [];
  for (const [key, value] of values) {
    if (table.keys.some((k) => k.key.length > 1 && k.key[0] === key))
      throw new SectionEditError(`runners[${index}].${key} is written as a table, not a value`);
    const line = table.keys.find((k) => k.key.length === 1 && k.key[0] === key);
    if (line) replacements.push({ start: line.valueStart, end: line.valueEnd, text: value });
    else missing.push([key, value]);
  }
  if (missing.length > 0) {
    const last = table.keys.at(-1);
    const indent = last ? indentationAt(text, last.lineStart) : `${indentationAt(text, table.start)}  `;
    let at = last ? last.lineEnd : table.bodyStart;
    let prefix = "";
    // The last line of the file may have no line end: the new lines start on a line of their own.
    if (at === text.length && at > 0 && !text.endsWith("\n")) prefix = "\n";
    if (at > text.length) at = text.length;
    const lines = missing.map(([key, value]) => `${indent}${key} = ${value}\n`).join("");
    replacements.push({ start: at, end: at, text: prefix + lines });
  }
  replacements.sort((a, b) => b.start - a.start);
  let out = text;
  for (const r of replacements) out = out.slice(0, r.start) + r.text + out.slice(r.end);
  return out;
}

/** The blanks at the start of the line that starts at `lineStart`. */
function indentationAt(text: string, lineStart: number): string {
  return /^[ \t]*/.exec(text.slice(lineStart))?.[0] ?? "";
}

/**
 * Where the comment block directly above the line at `lineStart` begins (`lineStart` itself when
 * the line above is blank or not a comment); never above `floor`.
 */
function leadingCommentStart(text: string, lineStart: number, floor: number): number {
  let start = lineStart;
  while (start > floor) {
    const previousStart = text.lastIndexOf("\n", start - 2) + 1;
    if (previousStart < floor) break;
    if (!/^[ \t]*#/.test(text.slice(previousStart, start))) break;
    start = previousStart;
  }
  return start;
}
