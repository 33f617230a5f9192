/**
 * Workflow commands in hook output (docs/hooks.md), recognised and processed line by line the way GitHub's
 * runner does it (actions/runner: `ActionCommand.TryParseV2` / `TryParse` in
 * src/Runner.Common/ActionCommand.cs, `ActionCommandManager.TryProcessCommand` and the command
 * extensions in src/Runner.Worker/ActionCommandManager.cs):
 *
 *  - `::name k=v,k2=v2::data` at the start of a line (after white space), and the legacy
 *    `##[name k=v;k2=v2]data` anywhere in a line. The name is case-insensitive and must be a known
 *    command: anything else (`::unknown::`, `::warning` without the second `::`, `x ::warning::`,
 *    `##[not-a-command]`, `##[warning` without `]`) is not a command and stays text, as printed.
 *  - Escapes: `%25 %0D %0A` in data; `%25 %0D %0A %3A %2C` in `::` properties; `%25 %0D %0A %5D %3B`
 *    in legacy commands. Properties without a value (`line=`) are dropped.
 *  - `::stop-commands::TOKEN` … `::TOKEN::`: in between, nothing is a command. The token may not be
 *    empty, `pause-logging` or a command name; a token longer than 6 characters is masked.
 *  - `::echo::on|off`: echo processed command lines into the log (off by default, on with step debug).
 *  - `set-env name=N::value` and `add-path::dir`: disabled since 2020 (error, the hook fails) unless
 *    ACTIONS_ALLOW_UNSECURE_COMMANDS is "true" in the hook's environment (`allowUnsecureCommands`),
 *    as on GitHub (SetEnvCommandExtension, AddPathCommandExtension); then they do what GITHUB_ENV
 *    and GITHUB_PATH do, NODE_OPTIONS refused.
 *  - Not supported in hooks: `set-output`/`save-state` (a hook is not a step: warning, ignored),
 *    problem matchers (warning).
 *
 * The parser never throws: every input is either text or a command, and a command that cannot be
 * processed becomes a `problem` that names the output line.
 */

import { isBlank, splitRemoveEmpty, trim, trimStart, tryParseBoolean, tryParseInt32 } from "./dotnet-text.ts";

export type AnnotationLevel = "error" | "warning" | "notice";

/** An annotation's location and title, after GitHub's `ValidateLinesAndColumns`. */
export interface AnnotationProperties {
  title?: string;
  file?: string;
  line?: number;
  col?: number;
  endLine?: number;
  endColumn?: number;
}

/** What one line of hook output turns into. `line` is the 1-based number of the output line. */
export type WorkflowCommandEvent =
  /** Not a command: show the line as printed. */
  | { kind: "text"; line: number; text: string }
  /** Text the runner writes for a command (the echoed command, `::add-mask::***`, stop/resume lines). */
  | { kind: "echo"; line: number; text: string }
  | {
      kind: "annotation";
      line: number;
      level: AnnotationLevel;
      message: string;
      properties: AnnotationProperties;
    }
  /** `::debug::` — shown only when step debug is on. */
  | { kind: "debug"; line: number; message: string }
  | { kind: "group"; line: number; title: string }
  | { kind: "endgroup"; line: number }
  /** A value to mask in the job log from now on. */
  | { kind: "mask"; line: number; value: string }
  /** `::set-env name=N::value`, allowed (ACTIONS_ALLOW_UNSECURE_COMMANDS): as a GITHUB_ENV line. */
  | { kind: "set-env"; line: number; name: string; value: string }
  /** `::add-path::dir`, allowed (ACTIONS_ALLOW_UNSECURE_COMMANDS): as a GITHUB_PATH line. */
  | { kind: "add-path"; line: number; path: string }
  /**
   * A command that could not be processed. `failsStep`: GitHub marks the step failed
   * (`CommandResult = Failed`) even when the script exits 0.
   */
  | { kind: "problem"; line: number; level: "error" | "warning"; message: string; failsStep: boolean };

export interface WorkflowCommandParserOptions {
  /** Step debug (ACTIONS_STEP_DEBUG): echo starts on, as on GitHub. */
  debug?: boolean;
  /**
   * ACTIONS_ALLOW_UNSECURE_COMMANDS is "true" (bool.TryParse) in the environment of the hook: the
   * administrator's, or what drover passes it (allowUnsecureCommands).
   */
  allowUnsecureCommands?: boolean;
}

/** GitHub's opt-in for `set-env` and `add-path`: ACTIONS_ALLOW_UNSECURE_COMMANDS is "true". */
export const ALLOW_UNSECURE_COMMANDS_ENV = "ACTIONS_ALLOW_UNSECURE_COMMANDS";

/** Whether `env` (a hook's environment) opts into `set-env` and `add-path`, as GitHub decides it. */
export function allowUnsecureCommands(env: Readonly<Record<string, string | undefined>>): boolean {
  return tryParseBoolean(env[ALLOW_UNSECURE_COMMANDS_ENV]) === true;
}

/** The commands GitHub's runner registers (lower case), besides `stop-commands`. */
const COMMANDS: ReadonlySet<string> = new Set([
  "add-mask",
  "add-matcher",
  "add-path",
  "debug",
  "echo",
  "endgroup",
  "error",
  "group",
  "notice",
  "remove-matcher",
  "save-state",
  "set-env",
  "set-output",
  "warning",
]);
const STOP_COMMANDS = "stop-commands";

/** Commands whose line is never echoed (`OmitEcho`): they could carry a secret or are shown anyway. */
const OMIT_ECHO: ReadonlySet<string> = new Set(["add-mask", "debug", "error", "notice", "warning"]);

/** GitHub's `Constants.Runner.UnsupportedStopCommandTokenDisabled`, without the opt-in drover does not offer. */
export const INVALID_STOP_TOKEN_MESSAGE =
  "You cannot use a endToken that is an empty string, the string 'pause-logging', or another workflow command. For more information see: https://docs.github.com/actions/learn-github-actions/workflow-commands-for-github-actions#example-stopping-and-starting-workflow-commands";

/** GitHub's `Constants.Runner.UnsupportedCommandMessageDisabled`, verbatim. */
export function disabledCommandMessage(command: string): string {
  return `The \`${command}\` command is disabled. Please upgrade to using Environment Files or opt into unsecure command execution by setting the \`ACTIONS_ALLOW_UNSECURE_COMMANDS\` environment variable to \`true\`. For more information see: https://github.blog/changelog/2020-10-01-github-actions-deprecating-set-env-and-add-path-commands/`;
}

/** Refused by `set-env`, as on GitHub (SetEnvCommandExtension's block list). */
const SET_ENV_BLOCKED = ["NODE_OPTIONS"];

/** A command line taken apart, before it is processed. */
export interface ParsedCommand {
  /** As written (case kept). */
  name: string;
  /** Keys in lower case (GitHub's property dictionary is case-insensitive); the last one wins. */
  properties: Map<string, string>;
  data: string;
}

type Registered = (lowerName: string) => boolean;

const unescapeData = (text: string) => replaceEscapes(text, DATA_ESCAPES);
const unescapeProperty = (text: string) => replaceEscapes(text, PROPERTY_ESCAPES);
const unescapeLegacy = (text: string) => replaceEscapes(text, LEGACY_ESCAPES);

// In GitHub's order: each replacement runs over the whole string before the next, `%25` last.
const DATA_ESCAPES: ReadonlyArray<readonly [string, string]> = [
  ["%0D", "\r"],
  ["%0A", "\n"],
  ["%25", "%"],
];
const PROPERTY_ESCAPES: ReadonlyArray<readonly [string, string]> = [
  ["%0D", "\r"],
  ["%0A", "\n"],
  ["%3A", ":"],
  ["%2C", ","],
  ["%25", "%"],
];
const LEGACY_ESCAPES: ReadonlyArray<readonly [string, string]> = [
  ["%3B", ";"],
  ["%0D", "\r"],
  ["%0A", "\n"],
  ["%5D", "]"],
  ["%25", "%"],
];

function replaceEscapes(text: string, escapes: ReadonlyArray<readonly [string, string]>): string {
  let out = text;
  for (const [escaped, char] of escapes) out = out.replaceAll(escaped, char);
  return out;
}

function commandName(info: string, registered: Registered): { name: string; space: number } | undefined {
  const space = info.indexOf(" ");
  const name = space < 0 ? info : info.slice(0, space);
  return name !== "" && registered(name.toLowerCase()) ? { name, space } : undefined;
}

function readProperties(
  text: string,
  separator: string,
  decode: (value: string) => string,
): Map<string, string> {
  const properties = new Map<string, string>();
  for (const property of splitRemoveEmpty(text, separator)) {
    const pair = splitRemoveEmpty(property, "=", 2);
    if (pair.length === 2) properties.set((pair[0] ?? "").toLowerCase(), decode(pair[1] ?? ""));
  }
  return properties;
}

/** `ActionCommand.TryParseV2`: `::name props::data`, only at the start of the (left-trimmed) line. */
function parseV2(input: string, registered: Registered): ParsedCommand | undefined {
  const message = trimStart(input);
  if (!message.startsWith("::")) return undefined;
  const end = message.indexOf("::", 2);
  if (end < 0) return undefined;
  const info = message.slice(2, end);
  const found = commandName(info, registered);
  if (!found) return undefined;
  const properties =
    found.space > 0 ? readProperties(trim(info.slice(found.space + 1)), ",", unescapeProperty) : new Map();
  return { name: found.name, properties, data: unescapeData(message.slice(end + 2)) };
}

/** `ActionCommand.TryParse`: the legacy `##[name props]data`, anywhere in the line. */
function parseLegacy(message: string, registered: Registered): ParsedCommand | undefined {
  const prefix = message.indexOf("##[");
  if (prefix < 0) return undefined;
  const bracket = message.indexOf("]", prefix);
  if (bracket < 0) return undefined;
  const info = message.slice(prefix + 3, bracket);
  const found = commandName(info, registered);
  if (!found) return undefined;
  const properties =
    found.space > 0 ? readProperties(info.slice(found.space + 1), ";", unescapeLegacy) : new Map();
  return { name: found.name, properties, data: unescapeLegacy(message.slice(bracket + 1)) };
}

/** Takes a line apart if it is a command (any registered name); undefined when it is text. */
export function parseCommand(line: string, extraCommands: readonly string[] = []): ParsedCommand | undefined {
  const extra = new Set(extraCommands.map((name) => name.toLowerCase()));
  const registered: Registered = (name) => isCommandName(name) || extra.has(name);
  if (line === "") return undefined;
  return parseV2(line, registered) ?? parseLegacy(line, registered);
}

function isCommandName(lowerName: string): boolean {
  return COMMANDS.has(lowerName) || lowerName === STOP_COMMANDS;
}

/**
 * `IssueCommandExtension.ValidateLinesAndColumns`: a range GitHub cannot show is repaired or
 * dropped (endLine alone becomes line, endColumn alone becomes col, columns need one line, an
 * end before its start drops the pair). Works on the raw property strings, as GitHub does.
 */
export function validateLinesAndColumns(properties: Map<string, string>): void {
  let line = properties.get("line");
  const endLine = properties.get("endline");
  const column = properties.get("col");
  const endColumn = properties.get("endcolumn");

  const lineNumber = tryParseInt32(line) ?? 0;
  const endLineNumber = tryParseInt32(endLine) ?? 0;
  const columnNumber = tryParseInt32(column) ?? 0;
  const endColumnNumber = tryParseInt32(endColumn) ?? 0;
  let hasStartLine = tryParseInt32(line) !== undefined;
  const hasEndLine = tryParseInt32(endLine) !== undefined;
  let hasStartColumn = tryParseInt32(column) !== undefined;
  const hasEndColumn = tryParseInt32(endColumn) !== undefined;
  const hasColumn = hasStartColumn || hasEndColumn;

  if (hasEndLine && !hasStartLine && endLine !== undefined) {
    properties.set("line", endLine);
    hasStartLine = true;
    line = endLine;
  }
  if (hasEndColumn && !hasStartColumn && endColumn !== undefined) {
    properties.set("col", endColumn);
    hasStartColumn = true;
  }
  if (!hasStartLine && hasColumn) {
    properties.delete("col");
    properties.delete("endcolumn");
  }
  if (hasEndLine && line !== endLine && hasColumn) {
    properties.delete("col");
    properties.delete("endcolumn");
  }
  if (hasStartLine && hasEndLine && endLineNumber < lineNumber) {
    properties.delete("line");
    properties.delete("endline");
  }
  if (hasStartColumn && hasEndColumn && endColumnNumber < columnNumber) {
    properties.delete("col");
    properties.delete("endcolumn");
  }
}

/** Positive numbers only: the annotation's fields are unsigned, 0 meaning "not set". */
function positive(value: string | undefined): number | undefined {
  const n = tryParseInt32(value);
  return n !== undefined && n > 0 ? n : undefined;
}

function annotationProperties(properties: Map<string, string>): AnnotationProperties {
  validateLinesAndColumns(properties);
  const result: AnnotationProperties = {};
  const title = properties.get("title");
  const file = properties.get("file");
  const line = positive(properties.get("line"));
  const col = positive(properties.get("col"));
  const endLine = positive(properties.get("endline"));
  const endColumn = positive(properties.get("endcolumn"));
  if (title !== undefined) result.title = title;
  if (file !== undefined) result.file = file;
  if (line !== undefined) result.line = line;
  if (col !== undefined) result.col = col;
  if (endLine !== undefined) result.endLine = endLine;
  if (endColumn !== undefined) result.endColumn = endColumn;
  return result;
}

/**
 * Processes hook output one line at a time, keeping GitHub's state between lines (stop-commands,
 * echo). One parser per hook run, shared by its stdout and stderr as on GitHub.
 *
 * @example
 * const parser = new WorkflowCommandParser();
 * parser.parseLine("::warning file=a.sh,line=3::careful");
 * // → [{ kind: "annotation", line: 1, level: "warning", message: "careful", properties: { file: "a.sh", line: 3 } }]
 */
export class WorkflowCommandParser {
  #lineNumber = 0;
  #echo: boolean;
  #stopToken: string | undefined;
  #failed = false;
  readonly #allowUnsecureCommands: boolean;

  constructor(options: WorkflowCommandParserOptions = {}) {
    this.#echo = options.debug ?? false;
    this.#allowUnsecureCommands = options.allowUnsecureCommands ?? false;
  }

  /** True once a command failed in a way that fails the step on GitHub. */
  get failed(): boolean {
    return this.#failed;
  }

  /** How many lines were parsed. */
  get lineCount(): number {
    return this.#lineNumber;
  }

  /** One line of output, without its `\n` (a trailing `\r` is ignored for command parsing). */
  parseLine(rawLine: string): WorkflowCommandEvent[] {
    const line = ++this.#lineNumber;
    const input = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    const stopToken = this.#stopToken?.toLowerCase();
    const registered: Registered = (name) => isCommandName(name) || name === stopToken;
    const command = input === "" ? undefined : (parseV2(input, registered) ?? parseLegacy(input, registered));
    if (!command) return [{ kind: "text", line, text: rawLine }];
    const name = command.name.toLowerCase();

    if (stopToken !== undefined) {
      if (name !== stopToken) return [{ kind: "text", line, text: rawLine }];
      this.#stopToken = undefined;
      return [{ kind: "echo", line, text: input }];
    }
    if (name === STOP_COMMANDS) return this.#stopCommands(line, input, command.data);

    const events: WorkflowCommandEvent[] = [];
    if (this.#echo && !OMIT_ECHO.has(name)) events.push({ kind: "echo", line, text: input });
    const fail = (detail: string) => {
      this.#failed = true;
      const shown = OMIT_ECHO.has(name) ? name : input;
      events.push({
        kind: "problem",
        line,
        level: "error",
        message: `output line ${line}: Unable to process command '${shown}' successfully. ${detail}`,
        failsStep: true,
      });
    };
    const warn = (detail: string) =>
      events.push({
        kind: "problem",
        line,
        level: "warning",
        message: `output line ${line}: ${detail}`,
        failsStep: false,
      });

    switch (name) {
      case "error":
      case "warning":
      case "notice":
        events.push({
          kind: "annotation",
          line,
          level: name,
          message: command.data,
          properties: annotationProperties(command.properties),
        });
        break;
      case "debug":
        events.push({ kind: "debug", line, message: command.data });
        break;
      case "group":
        events.push({ kind: "group", line, title: command.data });
        break;
      case "endgroup":
        events.push({ kind: "endgroup", line });
        break;
      case "add-mask":
        events.push(...this.#addMask(line, command.data));
        break;
      case "echo": {
        const value = trim(command.data).toUpperCase();
        if (value === "ON") this.#echo = true;
        else if (value === "OFF") this.#echo = false;
        else if (command.data === "") fail("Value cannot be null. (Parameter 'value')");
        else
          fail(
            `Invalid echo command value. Possible values can be: 'on', 'off'. Current value is: '${command.data}'.`,
          );
        break;
      }
      case "set-env":
      case "add-path":
        if (!this.#allowUnsecureCommands) fail(disabledCommandMessage(name));
        else if (name === "set-env") this.#setEnv(line, command, events, fail);
        else if (command.data === "") fail("Value cannot be null. (Parameter 'path')");
        else events.push({ kind: "add-path", line, path: command.data });
        break;
      case "set-output":
        warn(
          "The `set-output` command is not supported in job hooks and was ignored: a hook is not a step and has no outputs.",
        );
        break;
      case "save-state":
        warn(
          "The `save-state` command is not supported in job hooks and was ignored: a hook is not a step and has no state.",
        );
        break;
      default:
        // add-matcher, remove-matcher
        warn(
          `The \`${name}\` command is not supported in job hooks and was ignored: drover applies no problem matchers.`,
        );
    }
    return events;
  }

  /** SetEnvCommandExtension, after the opt-in was checked. */
  #setEnv(
    line: number,
    command: ParsedCommand,
    events: WorkflowCommandEvent[],
    fail: (detail: string) => void,
  ): void {
    const name = command.properties.get("name");
    if (name === undefined || name === "") {
      fail("Required field 'name' is missing in ##[set-env] command.");
      return;
    }
    // Beyond GitHub, as in GITHUB_ENV (env-file.ts): what no process environment can hold.
    if (name.includes("=")) {
      fail(`Invalid name '${name}': it must not contain '='.`);
      return;
    }
    if (name.includes("\0") || command.data.includes("\0")) {
      fail(`Invalid value for '${name.replaceAll("\0", "\\0")}': it contains a NUL character.`);
      return;
    }
    const blocked = SET_ENV_BLOCKED.find((b) => b.toLowerCase() === name.toLowerCase());
    if (blocked !== undefined) {
      // GitHub reports it as an error and goes on: the step does not fail.
      events.push({
        kind: "problem",
        line,
        level: "error",
        message: `output line ${line}: Can't update ${blocked} environment variable using ::set-env:: command.`,
        failsStep: false,
      });
      return;
    }
    events.push({ kind: "set-env", line, name, value: command.data });
  }

  #stopCommands(line: number, input: string, token: string): WorkflowCommandEvent[] {
    // ValidateStopToken: a token that ordinary output could contain would let it resume commands.
    if (token === "" || isCommandName(token.toLowerCase()) || token.toLowerCase() === "pause-logging") {
      this.#failed = true;
      return [
        {
          kind: "problem",
          line,
          level: "error",
          message: `output line ${line}: ${INVALID_STOP_TOKEN_MESSAGE}`,
          failsStep: true,
        },
      ];
    }
    this.#stopToken = token;
    const events: WorkflowCommandEvent[] = [];
    // GitHub masks the token for the rest of the job, so that the log does not reveal it.
    if (token.length > 6) events.push({ kind: "mask", line, value: token });
    events.push({ kind: "echo", line, text: input });
    return events;
  }

  #addMask(line: number, value: string): WorkflowCommandEvent[] {
    if (isBlank(value)) {
      return [
        {
          kind: "problem",
          line,
          level: "warning",
          message: `output line ${line}: Can't add secret mask for empty string in ##[add-mask] command.`,
          failsStep: false,
        },
      ];
    }
    // The whole value, and each of its lines: a multi-line secret is printed one line at a time.
    const values = [value];
    for (const part of value.split(/\r\n|\r|\n/))
      if (!isBlank(part) && !values.includes(part)) values.push(part);
    const events: WorkflowCommandEvent[] = values.map((v) => ({ kind: "mask", line, value: v }));
    if (this.#echo) events.push({ kind: "echo", line, text: "::add-mask::***" });
    return events;
  }
}
