import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { splitRemoveEmpty, tryParseBoolean, tryParseInt32 } from "../../plugins/script-hooks/dotnet-text.ts";
import {
  allowUnsecureCommands,
  disabledCommandMessage,
  INVALID_STOP_TOKEN_MESSAGE,
  parseCommand,
  validateLinesAndColumns,
  type WorkflowCommandEvent,
  WorkflowCommandParser,
} from "../../plugins/script-hooks/workflow-commands.ts";

/** Parses `lines` with one parser and returns every event. */
function parse(lines: string[], debug = false): WorkflowCommandEvent[] {
  const parser = new WorkflowCommandParser({ debug });
  return lines.flatMap((line) => parser.parseLine(line));
}

const one = (line: string) => parse([line]);

describe("workflow commands: annotations", () => {
  test("warning, error and notice with every property", () => {
    expect(
      one("::warning file=src/a.ts,line=3,col=5,endLine=3,endColumn=9,title=Careful::mind the gap"),
    ).toEqual([
      {
        kind: "annotation",
        line: 1,
        level: "warning",
        message: "mind the gap",
        properties: { title: "Careful", file: "src/a.ts", line: 3, col: 5, endLine: 3, endColumn: 9 },
      },
    ]);
    expect(one("::error::boom")).toEqual([
      { kind: "annotation", line: 1, level: "error", message: "boom", properties: {} },
    ]);
    expect(one("::notice title=FYI::note")).toEqual([
      { kind: "annotation", line: 1, level: "notice", message: "note", properties: { title: "FYI" } },
    ]);
  });

  test("command names and property names are case-insensitive", () => {
    expect(one("::WARNING FILE=a.sh,Line=2::x")).toEqual([
      { kind: "annotation", line: 1, level: "warning", message: "x", properties: { file: "a.sh", line: 2 } },
    ]);
  });

  test("leading white space before :: is allowed, anything else before it is not", () => {
    expect(one("   \t::error::x")[0]).toMatchObject({ kind: "annotation", message: "x" });
    expect(one("note: ::error::x")).toEqual([{ kind: "text", line: 1, text: "note: ::error::x" }]);
  });

  test("a property without a value is dropped; an empty message is kept", () => {
    expect(one("::warning file=,title=::")).toEqual([
      { kind: "annotation", line: 1, level: "warning", message: "", properties: {} },
    ]);
  });

  test("the last of repeated properties wins; spaces around the property list are trimmed", () => {
    expect(one("::warning  title=a,TITLE=b  ::m")[0]).toMatchObject({ properties: { title: "b" } });
  });

  test("GitHub's ValidateLinesAndColumns repairs or drops impossible ranges", () => {
    const props = (line: string) => (one(line)[0] as { properties: unknown }).properties;
    // Columns when lines are different: dropped.
    expect(props("::warning line=1,endLine=2,col=1,endColumn=2::m")).toEqual({ line: 1, endLine: 2 });
    // Columns without a line: dropped.
    expect(props("::warning col=1,endColumn=2::m")).toEqual({});
    // endLine alone becomes line too.
    expect(props("::warning endLine=1::m")).toEqual({ line: 1, endLine: 1 });
    // endColumn alone becomes col too.
    expect(props("::warning line=1,endColumn=2::m")).toEqual({ line: 1, col: 2, endColumn: 2 });
    // An empty line= is no line.
    expect(props("::warning line=,endLine=3::m")).toEqual({ line: 3, endLine: 3 });
    // An end before its start drops the pair.
    expect(props("::warning line=4,endLine=3::m")).toEqual({});
    expect(props("::warning line=1,endLine=1,col=3,endColumn=2::m")).toEqual({ line: 1, endLine: 1 });
    // Valid, and the old single-point form.
    expect(props("::warning line=1,endLine=1,col=1,endColumn=2::m")).toEqual({
      line: 1,
      endLine: 1,
      col: 1,
      endColumn: 2,
    });
    expect(props("::warning line=1,col=1,file=test.txt::m")).toEqual({ file: "test.txt", line: 1, col: 1 });
  });

  test("validateLinesAndColumns works on the raw strings, as GitHub's does", () => {
    const p = new Map([
      ["line", "abc"],
      ["col", "2"],
    ]);
    validateLinesAndColumns(p);
    expect([...p]).toEqual([["line", "abc"]]);
  });

  test("numbers that are not positive 32-bit integers are not locations", () => {
    expect((one("::warning line=0,col=x::m")[0] as { properties: unknown }).properties).toEqual({});
    expect((one("::warning line=99999999999::m")[0] as { properties: unknown }).properties).toEqual({});
    expect((one("::warning line= 7 ::m")[0] as { properties: unknown }).properties).toEqual({ line: 7 });
  });
});

describe("workflow commands: escapes", () => {
  test("data: %25 %0D %0A are decoded, other escapes are not", () => {
    expect(one("::error::a%25b%0Dc%0Ad%3Ae%2Cf")[0]).toMatchObject({ message: "a%b\rc\nd%3Ae%2Cf" });
  });

  test("properties: %25 %0D %0A %3A %2C are decoded", () => {
    expect(one("::error title=a%3Ab%2Cc%0Ad%0De%25f::m")[0]).toMatchObject({
      properties: { title: "a:b,c\nd\re%f" },
    });
  });

  test("%25 is decoded last, so an escaped escape stays an escape (GitHub's CommandParserV2Test)", () => {
    const parsed = parseCommand("::do-something k1=;=%252C=%250D=%250A=]=%253A,::;-%250D-%250A-]-:-,", [
      "do-something",
    ]);
    expect(parsed?.data).toBe(";-%0D-%0A-]-:-,");
    expect(parsed?.properties.get("k1")).toBe(";=%2C=%0D=%0A=]=%3A");
    const plain = parseCommand("::do-something k1=;=%2C=%0D=%0A=]=%3A,::;-%0D-%0A-]-:-,", ["do-something"]);
    expect(plain?.data).toBe(";-\r-\n-]-:-,");
    expect(plain?.properties.get("k1")).toBe(";=,=\r=\n=]=:");
  });

  test("legacy ##[ escapes: %3B %0D %0A %5D %25 (GitHub's CommandParserTest)", () => {
    const parsed = parseCommand("##[do-something k1=%3B=%0D=%0A=%5D;]%3B-%0D-%0A-%5D", ["do-something"]);
    expect(parsed?.data).toBe(";-\r-\n-]");
    expect(parsed?.properties.get("k1")).toBe(";=\r=\n=]");
  });
});

describe("workflow commands: legacy and malformed lines", () => {
  test("legacy ##[command] is still a command, anywhere in the line (as on GitHub)", () => {
    expect(one("##[warning file=a.sh;line=2]legacy")).toEqual([
      {
        kind: "annotation",
        line: 1,
        level: "warning",
        message: "legacy",
        properties: { file: "a.sh", line: 2 },
      },
    ]);
    expect(one(">>>   ##[error]inside")[0]).toMatchObject({
      kind: "annotation",
      level: "error",
      message: "inside",
    });
  });

  test.each([
    ["no second ::", "::warning this is not closed"],
    ["no :: at all", "warning: plain"],
    ["an unknown command", "::unknown-command::x"],
    ["an empty command name", "::::x"],
    ["a space before the name", ":: warning::x"],
    ["a command in the middle of a line", "echo ::warning::x"],
    ["legacy with an unknown name", "##[not-command]this line is an ERROR"],
    ["legacy without the closing bracket", "##[warning oops"],
    ["legacy ## without [", "## warning ]x"],
    ["an empty line", ""],
    ["set-output lookalike with a typo", "::set-outputs name=x::y"],
  ])("%s stays text, as printed", (_what, line) => {
    expect(one(line)).toEqual([{ kind: "text", line: 1, text: line }]);
  });

  test("text keeps a trailing \\r; a command ignores it", () => {
    expect(one("plain\r")).toEqual([{ kind: "text", line: 1, text: "plain\r" }]);
    expect(one("::error::x\r")[0]).toMatchObject({ kind: "annotation", message: "x" });
  });

  test("lines are numbered from 1, text and commands alike", () => {
    expect(parse(["a", "::error::x", "b"]).map((e) => e.line)).toEqual([1, 2, 3]);
  });
});

describe("workflow commands: debug, group, mask", () => {
  test("debug, group and endgroup", () => {
    expect(parse(["::debug::details", "::group::Title %25", "::endgroup::"])).toEqual([
      { kind: "debug", line: 1, message: "details" },
      { kind: "group", line: 2, title: "Title %" },
      { kind: "endgroup", line: 3 },
    ]);
  });

  test("add-mask masks the value and each of its lines", () => {
    expect(one("::add-mask::abc%0Ddef%0Aghi%0D%0Ajkl")).toEqual([
      { kind: "mask", line: 1, value: "abc\rdef\nghi\r\njkl" },
      { kind: "mask", line: 1, value: "abc" },
      { kind: "mask", line: 1, value: "def" },
      { kind: "mask", line: 1, value: "ghi" },
      { kind: "mask", line: 1, value: "jkl" },
    ]);
  });

  test("add-mask of white space only is a warning, nothing is masked", () => {
    expect(one("::add-mask:: %0D  %0A   ")).toEqual([
      {
        kind: "problem",
        line: 1,
        level: "warning",
        message: "output line 1: Can't add secret mask for empty string in ##[add-mask] command.",
        failsStep: false,
      },
    ]);
  });
});

describe("workflow commands: stop-commands", () => {
  test("nothing is a command until the token comes back; the token is masked", () => {
    const parser = new WorkflowCommandParser();
    expect(parser.parseLine("::stop-commands::pause-1234")).toEqual([
      { kind: "mask", line: 1, value: "pause-1234" },
      { kind: "echo", line: 1, text: "::stop-commands::pause-1234" },
    ]);
    expect(parser.parseLine("::warning::not now")).toEqual([
      { kind: "text", line: 2, text: "::warning::not now" },
    ]);
    expect(parser.parseLine("::set-env name=A::b")).toEqual([
      { kind: "text", line: 3, text: "::set-env name=A::b" },
    ]);
    expect(parser.parseLine("::stop-commands::other")).toEqual([
      { kind: "text", line: 4, text: "::stop-commands::other" },
    ]);
    expect(parser.parseLine("::PAUSE-1234::")).toEqual([{ kind: "echo", line: 5, text: "::PAUSE-1234::" }]);
    expect(parser.parseLine("::warning::now")[0]).toMatchObject({ kind: "annotation", message: "now" });
    // The token is a command only while commands are stopped.
    expect(parser.parseLine("::pause-1234::")).toEqual([{ kind: "text", line: 7, text: "::pause-1234::" }]);
    expect(parser.failed).toBe(false);
  });

  test("the legacy form resumes too; a token of 6 characters or fewer is not masked", () => {
    expect(parse(["::stop-commands::abcdef", "##[abcdef]", "::error::x"])).toEqual([
      { kind: "echo", line: 1, text: "::stop-commands::abcdef" },
      { kind: "echo", line: 2, text: "##[abcdef]" },
      { kind: "annotation", line: 3, level: "error", message: "x", properties: {} },
    ]);
  });

  test.each(["", "pause-logging", "PAUSE-LOGGING", "warning", "stop-commands", "set-env"])(
    "an unsafe token %p is refused and fails the step; commands go on",
    (token) => {
      const parser = new WorkflowCommandParser();
      expect(parser.parseLine(`::stop-commands::${token}`)).toEqual([
        {
          kind: "problem",
          line: 1,
          level: "error",
          message: `output line 1: ${INVALID_STOP_TOKEN_MESSAGE}`,
          failsStep: true,
        },
      ]);
      expect(parser.failed).toBe(true);
      expect(parser.parseLine("::error::still a command")[0]).toMatchObject({ kind: "annotation" });
    },
  );
});

describe("workflow commands: echo", () => {
  test("off by default; on echoes processed commands except the ones that omit echo", () => {
    expect(
      parse([
        "::group::g1",
        "::echo::on",
        "::group::g2",
        "::warning::w",
        "::add-mask::secret-value",
        "::debug::d",
        "::echo::Off   ",
        "::group::g3",
      ]),
    ).toEqual([
      { kind: "group", line: 1, title: "g1" },
      { kind: "echo", line: 3, text: "::group::g2" },
      { kind: "group", line: 3, title: "g2" },
      { kind: "annotation", line: 4, level: "warning", message: "w", properties: {} },
      { kind: "mask", line: 5, value: "secret-value" },
      { kind: "echo", line: 5, text: "::add-mask::***" },
      { kind: "debug", line: 6, message: "d" },
      { kind: "echo", line: 7, text: "::echo::Off   " },
      { kind: "group", line: 8, title: "g3" },
    ]);
  });

  test("step debug turns echo on from the start", () => {
    expect(parse(["::endgroup::"], true)).toEqual([
      { kind: "echo", line: 1, text: "::endgroup::" },
      { kind: "endgroup", line: 1 },
    ]);
  });

  test("an invalid or missing value fails the step", () => {
    const parser = new WorkflowCommandParser();
    expect(parser.parseLine("::echo::invalid")).toEqual([
      {
        kind: "problem",
        line: 1,
        level: "error",
        message:
          "output line 1: Unable to process command '::echo::invalid' successfully. Invalid echo command value. Possible values can be: 'on', 'off'. Current value is: 'invalid'.",
        failsStep: true,
      },
    ]);
    expect(parser.parseLine("::echo::")[0]).toMatchObject({ kind: "problem", failsStep: true });
    expect(parser.failed).toBe(true);
  });
});

describe("workflow commands: set-env and add-path with ACTIONS_ALLOW_UNSECURE_COMMANDS", () => {
  test.each([
    ["true", true],
    ["TRUE", true],
    [" True\t", true],
    ["true\0", true],
    ["false", false],
    ["1", false],
    ["yes", false],
    ["", false],
    [undefined, false],
  ])("ACTIONS_ALLOW_UNSECURE_COMMANDS=%p allows them: %p (bool.TryParse)", (value, allowed) => {
    expect(allowUnsecureCommands({ ACTIONS_ALLOW_UNSECURE_COMMANDS: value })).toBe(allowed);
    expect(tryParseBoolean(value) === true).toBe(allowed);
  });

  test("allowed: set-env and add-path become events, echoed when echo is on", () => {
    const parser = new WorkflowCommandParser({ allowUnsecureCommands: true });
    expect(parser.parseLine("::set-env name=GREETING::hello%0Aworld")).toEqual([
      { kind: "set-env", line: 1, name: "GREETING", value: "hello\nworld" },
    ]);
    expect(parser.parseLine("::add-path::/opt/tool/bin")).toEqual([
      { kind: "add-path", line: 2, path: "/opt/tool/bin" },
    ]);
    parser.parseLine("::echo::on");
    expect(parser.parseLine("::SET-ENV NAME=A::b")).toEqual([
      { kind: "echo", line: 4, text: "::SET-ENV NAME=A::b" },
      { kind: "set-env", line: 4, name: "A", value: "b" },
    ]);
    expect(parser.failed).toBe(false);
  });

  test.each([
    ["::set-env::value", "Required field 'name' is missing in ##[set-env] command.", true],
    ["::set-env name=::value", "Required field 'name' is missing in ##[set-env] command.", true],
    ["::add-path::", "Value cannot be null. (Parameter 'path')", true],
    ["::set-env name=A=B::value", "Invalid name 'A=B': it must not contain '='.", true],
  ])("allowed, but %s fails the step: %s", (line, detail, failsStep) => {
    const parser = new WorkflowCommandParser({ allowUnsecureCommands: true });
    expect(parser.parseLine(line)).toEqual([
      {
        kind: "problem",
        line: 1,
        level: "error",
        message: `output line 1: Unable to process command '${line}' successfully. ${detail}`,
        failsStep,
      },
    ]);
    expect(parser.failed).toBe(failsStep);
  });

  test("allowed: NODE_OPTIONS is refused with GitHub's error, and the step goes on", () => {
    const parser = new WorkflowCommandParser({ allowUnsecureCommands: true });
    expect(parser.parseLine("::set-env name=node_options::--require=/tmp/x.js")).toEqual([
      {
        kind: "problem",
        line: 1,
        level: "error",
        message: "output line 1: Can't update NODE_OPTIONS environment variable using ::set-env:: command.",
        failsStep: false,
      },
    ]);
    expect(parser.failed).toBe(false);
  });

  test("allowed, but not between stop-commands", () => {
    const parser = new WorkflowCommandParser({ allowUnsecureCommands: true });
    parser.parseLine("::stop-commands::pause123");
    expect(parser.parseLine("::set-env name=A::b")).toEqual([
      { kind: "text", line: 2, text: "::set-env name=A::b" },
    ]);
  });
});

describe("workflow commands: not supported in hooks", () => {
  test.each(["set-env", "add-path"])("%s is disabled: an error, and the step fails", (command) => {
    const parser = new WorkflowCommandParser();
    const line = `::${command.toUpperCase()} name=A::b`;
    expect(parser.parseLine(line)).toEqual([
      {
        kind: "problem",
        line: 1,
        level: "error",
        message: `output line 1: Unable to process command '${line}' successfully. ${disabledCommandMessage(command)}`,
        failsStep: true,
      },
    ]);
    expect(parser.failed).toBe(true);
  });

  test("the message is GitHub's, opt-in included", () => {
    expect(disabledCommandMessage("set-env")).toBe(
      "The `set-env` command is disabled. Please upgrade to using Environment Files or opt into unsecure command execution by setting the `ACTIONS_ALLOW_UNSECURE_COMMANDS` environment variable to `true`. For more information see: https://github.blog/changelog/2020-10-01-github-actions-deprecating-set-env-and-add-path-commands/",
    );
  });

  test.each(["set-output", "save-state"])("%s is a warning, ignored, the step goes on", (command) => {
    const parser = new WorkflowCommandParser();
    const events = parser.parseLine(`::${command} name=a::b`);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: "problem", level: "warning", failsStep: false });
    expect((events[0] as { message: string }).message).toContain(
      `The \`${command}\` command is not supported in job hooks`,
    );
    expect(parser.failed).toBe(false);
  });

  test("problem matchers are a warning", () => {
    expect(one("::add-matcher::/x.json")[0]).toMatchObject({
      kind: "problem",
      level: "warning",
      failsStep: false,
    });
  });

  test("an echoed command is shown before its problem", () => {
    expect(parse(["::echo::on", "::set-output name=a::b"]).map((e) => e.kind)).toEqual(["echo", "problem"]);
  });
});

describe(".NET string helpers", () => {
  test("Split with count and RemoveEmptyEntries", () => {
    expect(splitRemoveEmpty("k==v", "=", 2)).toEqual(["k", "v"]);
    expect(splitRemoveEmpty("=k=v", "=", 2)).toEqual(["k", "v"]);
    expect(splitRemoveEmpty("k=a=b", "=", 2)).toEqual(["k", "a=b"]);
    expect(splitRemoveEmpty("k===v=", "=", 2)).toEqual(["k", "v="]);
    expect(splitRemoveEmpty("k=", "=", 2)).toEqual(["k"]);
    expect(splitRemoveEmpty(",a,,b,", ",")).toEqual(["a", "b"]);
  });

  test("int.TryParse", () => {
    expect(tryParseInt32(" +12 ")).toBe(12);
    expect(tryParseInt32("-3")).toBe(-3);
    expect(tryParseInt32("2147483647")).toBe(2147483647);
    expect(tryParseInt32("2147483648")).toBeUndefined();
    expect(tryParseInt32("1.5")).toBeUndefined();
    expect(tryParseInt32("")).toBeUndefined();
  });
});

describe("workflow commands: properties", () => {
  const commandish = fc
    .tuple(
      fc.constantFrom("::", "##[", " ::", ""),
      fc.constantFrom(
        "warning",
        "error",
        "notice",
        "debug",
        "group",
        "endgroup",
        "add-mask",
        "echo",
        "stop-commands",
        "set-env",
        "set-output",
        "tok",
        "",
      ),
      fc.string(),
      fc.constantFrom("::", "]", ""),
      fc.string(),
    )
    .map((parts) => parts.join(""));
  const lines = fc.array(fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), commandish), {
    maxLength: 30,
  });

  test("the parser never throws and numbers every line", () => {
    fc.assert(
      fc.property(lines, fc.boolean(), (input, debug) => {
        const parser = new WorkflowCommandParser({ debug });
        for (const line of input) {
          const events = parser.parseLine(line);
          for (const e of events) expect(e.line).toBe(parser.lineCount);
        }
        expect(parser.lineCount).toBe(input.length);
      }),
      { numRuns: 2000 },
    );
  });

  test("a line that is not a command comes back unchanged", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        fc.pre(!text.includes("::") && !text.includes("##["));
        expect(one(text)).toEqual([{ kind: "text", line: 1, text }]);
      }),
    );
  });
});
