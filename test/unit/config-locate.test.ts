import { describe, expect, test } from "bun:test";
import { type KeyPath, locateKeys } from "../../src/config/index.ts";

const text = `# comment line 1
concurrent = 4
"quoted key" = 1
a.b.c = "dotted"              # line 4

[[runners]]
  name = "one"                # line 7
  environment = [
    "A=1",                    # line 9
    # a comment inside an array
    "B=2",                    # line 11
  ]
  description = """
fake = "not a key"
"""
  [runners.custom]            # line 16
    run_exec = '/run.sh'      # line 17
    inline = { x = 1, y = { z = [1, 2] } }

[[runners]]                   # line 20
  name = "two"
  [runners.plugin.settings]   # line 22
    when = 1979-05-27 07:32:00 # line 23

[hooks]                       # line 25
  job_started = [
    { path = "/a.sh" },       # line 27
    {
      path = "/b.sh",         # line 29
    },
  ]
  [[hooks.plugins]]           # line 32
    name = "p0"
  [[hooks.plugins]]           # line 34
    name = 'p1'
`;

describe("locateKeys", () => {
  const keys = locateKeys(text);
  const cases: Array<[KeyPath, number | undefined]> = [
    [["concurrent"], 2],
    [["quoted key"], 3],
    [["a"], 4],
    [["a", "b", "c"], 4],
    [["runners"], 6],
    [["runners", 0], 6],
    [["runners", 0, "name"], 7],
    [["runners", 0, "environment"], 8],
    [["runners", 0, "environment", 0], 9],
    [["runners", 0, "environment", 1], 11],
    [["runners", 0, "description"], 13],
    [["runners", 0, "custom"], 16],
    [["runners", 0, "custom", "run_exec"], 17],
    [["runners", 0, "custom", "inline", "y", "z", 1], 18],
    [["runners", 1], 20],
    [["runners", 1, "name"], 21],
    // implicit table [runners.plugin]: its first sub-table's header
    [["runners", 1, "plugin"], 22],
    [["runners", 1, "plugin", "settings", "when"], 23],
    [["hooks"], 25],
    [["hooks", "job_started", 0, "path"], 27],
    [["hooks", "job_started", 1], 28],
    [["hooks", "job_started", 1, "path"], 29],
    [["hooks", "plugins", 0], 32],
    [["hooks", "plugins", 1, "name"], 35],
    // not in the file: nearest defined ancestor
    [["runners", 0, "custom", "missing"], 16],
    [["runners", 1, "custom", "run_exec"], 20],
    [["missing"], undefined],
  ];
  for (const [path, line] of cases) {
    test(`${JSON.stringify(path)} → ${line}`, () => {
      expect(keys.lineOf(path)).toBe(line);
    });
  }

  test("the multi-line string's content is not taken for a key", () => {
    expect(keys.lineOf(["runners", 0, "fake"])).toBe(6);
  });

  test("text it cannot follow keeps what it found before", () => {
    const partial = locateKeys("a = 1\n= 2\n[c]\n");
    expect([partial.lineOf(["a"]), partial.lineOf(["c"])]).toEqual([1, undefined]);
  });
});
