import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { dedupePaths, parseEnvFile, parsePathFile } from "../../plugins/script-hooks/env-file.ts";

const lines = (...l: string[]) => `${l.join("\n")}\n`;
/** name → value of what parsed, the last entry winning. */
const values = (text: string) =>
  Object.fromEntries(parseEnvFile(text).variables.map((v) => [v.name, v.value] as const));

describe("GITHUB_ENV: NAME=value", () => {
  test("simple entries; empty lines skipped; empty value kept", () => {
    expect(
      parseEnvFile(lines("", "MY_ENV=my value", "", "MY_ENV_2=", "MY_ENV_3=my third value", "")),
    ).toEqual({
      variables: [
        { name: "MY_ENV", value: "my value", line: 2 },
        { name: "MY_ENV_2", value: "", line: 4 },
        { name: "MY_ENV_3", value: "my third value", line: 5 },
      ],
      problems: [],
    });
  });

  test("the value is everything after the first =, << included", () => {
    expect(values(lines("MY_ENV==abc", "MY_ENV_2=def=ghi", "MY_ENV_3=jkl=", "MY_KEY_5=abc << def"))).toEqual({
      MY_ENV: "=abc",
      MY_ENV_2: "def=ghi",
      MY_ENV_3: "jkl=",
      MY_KEY_5: "abc << def",
    });
  });

  test("a later entry wins; the last line needs no newline", () => {
    expect(values("A=1\nA=2")).toEqual({ A: "2" });
  });

  test("lines end at \\n only: a \\r stays in the value (GitHub's Linux runner)", () => {
    expect(values("A=b\r\nC=d\n")).toEqual({ A: "b\r", C: "d" });
  });

  test("a UTF-8 byte order mark is not part of the first name", () => {
    expect(values("\uFEFFA=b\n")).toEqual({ A: "b" });
  });
});

describe("GITHUB_ENV: heredoc", () => {
  test("lines between NAME<<DELIM and DELIM, joined by \\n; an empty value", () => {
    expect(
      values(lines("MY_ENV<<EOF", "line one", "line two", "line three", "EOF", "EMPTY<<EOF", "EOF")),
    ).toEqual({
      MY_ENV: "line one\nline two\nline three",
      EMPTY: "",
    });
  });

  test("GitHub's edge cases: empty lines kept, = in a value, the delimiter only as a whole line", () => {
    expect(
      values(
        lines(
          "MY_ENV_1<<EOF",
          "hello",
          "",
          "three",
          "",
          "EOF",
          "MY_ENV_2<<EOF",
          "hello=two",
          "EOF",
          "MY_ENV_3<<EOF",
          " EOF",
          "EOF",
          "MY_ENV_4<<EOF",
          "EOF EOF",
          "EOF",
        ),
      ),
    ).toEqual({ MY_ENV_1: "hello\n\nthree\n", MY_ENV_2: "hello=two", MY_ENV_3: " EOF", MY_ENV_4: "EOF EOF" });
  });

  test.each([
    "=EOF",
    "==EOF",
    "EO=F",
    "EOF=",
    "<EOF",
    "<<EOF",
    "EO<<F",
    "EOF<<",
    "+EOF",
    "/EOF",
    "EOF//",
    "<<//++==",
    "khkIhPxsVA==",
    "D+Y8zE/EOw==",
    "5tdblQajc/b+EGBZXo0w",
  ])("delimiter %p (GitHub's end marker variations)", (eof) => {
    expect(
      values(
        lines(
          `A<<${eof}`,
          "hello",
          "one",
          eof,
          `B<<${eof}`,
          "hello=two",
          eof,
          `C<<${eof}`,
          ` ${eof}`,
          eof,
          `D<<${eof}`,
          `${eof} ${eof}`,
          eof,
        ),
      ),
    ).toEqual({ A: "hello\none", B: "hello=two", C: ` ${eof}`, D: `${eof} ${eof}` });
  });

  test("white space between = and << still makes a heredoc, whose name then contains = (refused)", () => {
    expect(parseEnvFile(lines("MY_KEY_6=    <<EOF", "white space test", "EOF"))).toEqual({
      variables: [],
      problems: [
        {
          line: 1,
          message: "$GITHUB_ENV line 1: Invalid format 'MY_KEY_6=    <<EOF'. Name must not contain '='",
          fatal: true,
        },
      ],
    });
  });

  test("a name with white space before << is kept as written (GitHub does not trim)", () => {
    expect(values(lines("MY_KEY_7 <<=EOF=", "abc", "=EOF="))).toEqual({ "MY_KEY_7 ": "abc" });
  });

  test("a value holding a fake delimiter line does not end early (injection attempt)", () => {
    const delimiter = "ghadelimiter_6a3c1e0e-4a4e-4f4d-9a53-8a1b2c3d4e5f";
    const hostile = [
      "first",
      "EOF",
      ` ${delimiter}`,
      `${delimiter} `,
      `${delimiter}x`,
      "ghadelimiter_00000000-0000-0000-0000-000000000000",
      "PATH=/tmp/evil",
      "NODE_OPTIONS<<EOF",
    ].join("\n");
    expect(parseEnvFile(lines(`TITLE<<${delimiter}`, hostile, delimiter, "AFTER=ok"))).toEqual({
      variables: [
        { name: "TITLE", value: hostile, line: 1 },
        { name: "AFTER", value: "ok", line: 11 },
      ],
      problems: [],
    });
  });

  test("an = before << makes NAME=value, so a hostile title cannot open a heredoc", () => {
    // GitHub's EqualBeforeMultilineIndicator case: the "heredoc" line is a plain assignment.
    const r = parseEnvFile(
      lines("PREFIX_Issue 999:  Better handling for the `=` character<<khkIhPxsVA==", "A=B", "khkIhPxsVA=="),
    );
    expect(r.problems).toEqual([]);
    expect(r.variables.map((v) => v.name)).toEqual([
      "PREFIX_Issue 999:  Better handling for the `",
      "A",
      "khkIhPxsVA",
    ]);
  });
});

describe("GITHUB_ENV: errors stop the file and name the line", () => {
  test("missing delimiter: what came before still applies", () => {
    expect(parseEnvFile(lines("A=1", "B<<EOF", "x", "y"))).toEqual({
      variables: [{ name: "A", value: "1", line: 1 }],
      problems: [
        {
          line: 2,
          message: "$GITHUB_ENV line 2: Invalid value. Matching delimiter not found 'EOF'",
          fatal: true,
        },
      ],
    });
    // GitHub's MissingNewLine: the whole heredoc on one line.
    expect(parseEnvFile("MY_OUTPUT<<EOF line one line two line three EOF").problems[0]?.message).toBe(
      "$GITHUB_ENV line 1: Invalid value. Matching delimiter not found 'EOF line one line two line three EOF'",
    );
  });

  test("EOF without a newline after a value line", () => {
    expect(parseEnvFile("A<<EOF\nline one\nline two EOF").problems).toEqual([
      { line: 3, message: "$GITHUB_ENV line 3: Invalid value. EOF marker missing new line.", fatal: true },
    ]);
  });

  test("a delimiter on the last line without a newline is fine", () => {
    expect(values("A<<EOF\nv\nEOF")).toEqual({ A: "v" });
  });

  test.each([
    ["=value", "Invalid format '=value'. Name must not be empty"],
    ["<<EOF", "Invalid format '<<EOF'. Name must not be empty and delimiter must not be empty"],
    ["NAME<<", "Invalid format 'NAME<<'. Name must not be empty and delimiter must not be empty"],
    ["no equals sign", "Invalid format 'no equals sign'"],
  ])("%p", (line, message) => {
    expect(parseEnvFile(lines("OK=1", line, "LATER=2"))).toEqual({
      variables: [{ name: "OK", value: "1", line: 1 }],
      problems: [{ line: 2, message: `$GITHUB_ENV line 2: ${message}`, fatal: true }],
    });
  });

  test("a NUL character cannot be passed to a process", () => {
    expect(parseEnvFile("A=x\0y\n").problems[0]?.message).toBe(
      "$GITHUB_ENV line 1: Invalid value for 'A': it contains a NUL character",
    );
  });

  test("NODE_OPTIONS is refused, in any case, and the rest still applies", () => {
    expect(
      parseEnvFile(lines("node_options=--require /tmp/x.js", "A=1", "NODE_OPTIONS<<EOF", "x", "EOF", "B=2")),
    ).toEqual({
      variables: [
        { name: "A", value: "1", line: 2 },
        { name: "B", value: "2", line: 6 },
      ],
      problems: [
        {
          line: 1,
          message:
            "$GITHUB_ENV line 1: Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command.",
          fatal: false,
        },
        {
          line: 3,
          message:
            "$GITHUB_ENV line 3: Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command.",
          fatal: false,
        },
      ],
    });
  });

  test("the label names the file", () => {
    expect(parseEnvFile("x\n", "/tmp/set_env").problems[0]?.message).toBe(
      "/tmp/set_env line 1: Invalid format 'x'",
    );
  });
});

describe("GITHUB_PATH", () => {
  test("one path per line, \\n, \\r\\n or \\r; empty lines skipped; no trimming", () => {
    expect(parsePathFile("/opt/a/bin\r\n\n/opt/b bin \r/opt/c\n")).toEqual({
      paths: ["/opt/a/bin", "/opt/b bin ", "/opt/c"],
      problems: [],
    });
  });

  test("a path added twice counts at its last position (newest first once prepended)", () => {
    expect(dedupePaths(["/a", "/b", "/a", "/c"])).toEqual(["/b", "/a", "/c"]);
  });

  test("a NUL character is reported with its line and skipped", () => {
    expect(parsePathFile("/ok\n/b\0ad\n")).toEqual({
      paths: ["/ok"],
      problems: [
        { line: 2, message: "$GITHUB_PATH line 2: Invalid path: it contains a NUL character", fatal: false },
      ],
    });
  });
});

describe("environment files: properties", () => {
  const text = fc.array(
    fc.oneof(
      fc.string(),
      fc.constantFrom("EOF", "A<<EOF", "=", "<<", "A=<<EOF", "NODE_OPTIONS=x", "\r", ""),
      fc.string({ unit: "grapheme" }),
    ),
    { maxLength: 20 },
  );

  test("the parsers never throw", () => {
    fc.assert(
      fc.property(text, fc.boolean(), (parts, crlf) => {
        const content = parts.join(crlf ? "\r\n" : "\n");
        const env = parseEnvFile(content);
        expect(env.problems.filter((p) => p.fatal).length).toBeLessThanOrEqual(1);
        parsePathFile(content);
      }),
      { numRuns: 2000 },
    );
  });

  test("a heredoc gives back any value that has no line equal to its delimiter", () => {
    const name = fc
      .stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/)
      .filter((n) => n.toUpperCase() !== "NODE_OPTIONS");
    const delimiter = fc.stringMatching(/^[A-Za-z0-9_=+/-]{1,20}$/);
    fc.assert(
      fc.property(name, delimiter, fc.string(), (n, d, value) => {
        fc.pre(!value.includes("\0") && !value.split("\n").includes(d));
        expect(parseEnvFile(`${n}<<${d}\n${value}\n${d}\n`)).toEqual({
          variables: [{ name: n, value, line: 1 }],
          problems: [],
        });
      }),
      { numRuns: 1000 },
    );
  });
});
