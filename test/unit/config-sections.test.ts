/**
 * drover editing config.toml as text (src/config/toml-layout.ts, runner-sections.ts,
 * runner-edits.ts, config-edit.ts): a runner section appended, removed, its token keys replaced,
 * every other byte (comments, blank lines, odd layouts) as the administrator wrote it; a result
 * drover would not accept, or a file it should not trust, leaves the file untouched.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { DroverError } from "../../kernel/errors.ts";
import { checkConfigText } from "../../src/config/check.ts";
import { editConfigFile } from "../../src/config/config-edit.ts";
import { type NewRunner, newRunnerSection } from "../../src/config/new-runner.ts";
import { addRunner, removeRunners, writeRotatedToken } from "../../src/config/runner-edits.ts";
import {
  appendRunnerSection,
  removeRunnerSections,
  runnerSections,
  SectionEditError,
  setRunnerKeys,
} from "../../src/config/runner-sections.ts";
import { parseRfc3339, readTokenTime, tokenTimeToml } from "../../src/config/token-time.ts";
import { tomlLayout } from "../../src/config/toml-layout.ts";
import { tomlString } from "../../src/config/toml-value.ts";
import { tempDir } from "../harness.ts";
import { escapeRegExp, unwritableDirectory } from "../harness-files.ts";

/** A file an administrator wrote: comments everywhere, a multi-line string, a table between runner tables. */
const ADMIN = `# /etc/drover/config.toml: our CI host
concurrent = 4   # two jobs per core

# The shell runner, for quick jobs.
[[runners]]
  name = "shell"          # keep this name: dashboards use it
  url = "https://gitlab.example.com"
  token = "glrt-old-shell"
  token_obtained_at = 2024-01-01T00:00:00Z
  token_expires_at = 2024-02-01T00:00:00Z
  executor = "shell"
  pre_build_script = """
echo "[[runners]] is not a header in here"
# nor is this a comment
"""
  [runners.feature_flags]
    FF_USE_FASTZIP = true

# Hooks for every job.
[hooks]
  job_started = "/opt/hooks/start.sh"

# The LXD runner.
[[runners]]
  name = "lxd"
  url = "https://gitlab.example.com"
  token = "glrt-old-lxd"
  executor = "custom"
  [runners.custom]
    run_exec = "/opt/lxd/run.sh"   # the driver
`;

const registered: NewRunner = {
  name: "vm",
  url: "https://gitlab.example.com",
  id: 42,
  token: 'glrt-new"quote\\',
  tokenObtainedAt: new Date("2024-05-01T12:00:00Z"),
  tokenExpiresAt: undefined,
  executor: { kind: "plugin", plugin: { name: "firecracker", version: "^1.2" } },
  limit: 2,
};

describe("toml layout", () => {
  test("finds tables and key values, not what looks like them inside strings", () => {
    const tables = tomlLayout(ADMIN);
    expect(tables.map((t) => [t.path.join("."), t.array])).toEqual([
      ["", false],
      ["runners", true],
      ["runners.feature_flags", false],
      ["hooks", false],
      ["runners", true],
      ["runners.custom", false],
    ]);
    const token = tables[1]?.keys.find((k) => k.key[0] === "token");
    expect(token && ADMIN.slice(token.valueStart, token.valueEnd)).toBe('"glrt-old-shell"');
    const name = tables[1]?.keys.find((k) => k.key[0] === "name");
    // The value ends before the blanks and the comment.
    expect(name && ADMIN.slice(name.valueStart, name.valueEnd)).toBe('"shell"');
    const expires = tables[1]?.keys.find((k) => k.key[0] === "token_expires_at");
    expect(expires && ADMIN.slice(expires.valueStart, expires.valueEnd)).toBe("2024-02-01T00:00:00Z");
  });

  test("multi-line arrays and inline tables, CRLF line ends", () => {
    const text =
      'a = [\r\n  1, # one\r\n  [2, 3],\r\n]\r\nb = { c = "}", d = [1] }\r\n[t]\r\ne = 1979-05-27 07:32:00Z\r\n';
    const [root, t] = tomlLayout(text);
    expect(root?.keys.map((k) => text.slice(k.valueStart, k.valueEnd))).toEqual([
      "[\r\n  1, # one\r\n  [2, 3],\r\n]",
      '{ c = "}", d = [1] }',
    ]);
    expect(t?.keys.map((k) => text.slice(k.valueStart, k.valueEnd))).toEqual(["1979-05-27 07:32:00Z"]);
  });
});

describe("runner sections", () => {
  test("each [[runners]] with its sub-tables, even after an unrelated table", () => {
    const sections = runnerSections(ADMIN);
    expect(sections.map((s) => s.tables.map((t) => t.path.join(".")))).toEqual([
      ["runners", "runners.feature_flags"],
      ["runners", "runners.custom"],
    ]);
  });

  test("appending keeps the file as it was and adds one blank line before the section", () => {
    const section = newRunnerSection(registered);
    const text = appendRunnerSection(ADMIN, section);
    expect(text).toBe(`${ADMIN}\n${section}`);
    expect(section).toBe(`[[runners]]
  name = "vm"
  url = "https://gitlab.example.com"
  id = 42
  token = "glrt-new\\"quote\\\\"
  token_obtained_at = 2024-05-01T12:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "plugin"
  limit = 2
  [runners.plugin]
    name = "firecracker"
    version = "^1.2"
`);
    // A file without a final line end, and an empty file.
    expect(appendRunnerSection("concurrent = 1", section)).toBe(`concurrent = 1\n\n${section}`);
    expect(appendRunnerSection("", section)).toBe(section);
    const doc = parse(text) as { runners: Array<Record<string, unknown>> };
    expect(doc.runners.at(-1)?.token).toBe(registered.token);
  });

  test("removing the first runner takes its comment and sub-table, and leaves the hooks and the next runner's comment", () => {
    expect(removeRunnerSections(ADMIN, [0])).toBe(`# /etc/drover/config.toml: our CI host
concurrent = 4   # two jobs per core

# Hooks for every job.
[hooks]
  job_started = "/opt/hooks/start.sh"

# The LXD runner.
[[runners]]
  name = "lxd"
  url = "https://gitlab.example.com"
  token = "glrt-old-lxd"
  executor = "custom"
  [runners.custom]
    run_exec = "/opt/lxd/run.sh"   # the driver
`);
  });

  test("removing the last runner leaves one line end, not its blank line", () => {
    const text = removeRunnerSections(ADMIN, [1]);
    expect(text.endsWith('  job_started = "/opt/hooks/start.sh"\n')).toBe(true);
    expect(text).toContain("# The shell runner, for quick jobs.\n[[runners]]");
    expect(text).not.toContain("lxd");
  });

  test("removing both", () => {
    expect(removeRunnerSections(ADMIN, [0, 1])).toBe(`# /etc/drover/config.toml: our CI host
concurrent = 4   # two jobs per core

# Hooks for every job.
[hooks]
  job_started = "/opt/hooks/start.sh"
`);
  });

  test("setting keys replaces values in place (comments kept) and adds missing keys after the last one", () => {
    const values = [
      ["token", tomlString("glrt-NEW")],
      ["token_obtained_at", "2024-05-01T12:00:00Z"],
      ["token_expires_at", "2024-06-01T12:00:00.500Z"],
    ] as const;
    const shell = setRunnerKeys(ADMIN, 0, values);
    expect(shell).toBe(
      ADMIN.replace('"glrt-old-shell"', '"glrt-NEW"')
        .replace("token_obtained_at = 2024-01-01T00:00:00Z", "token_obtained_at = 2024-05-01T12:00:00Z")
        .replace("token_expires_at = 2024-02-01T00:00:00Z", "token_expires_at = 2024-06-01T12:00:00.500Z"),
    );
    const lxd = setRunnerKeys(ADMIN, 1, values);
    expect(lxd).toBe(
      ADMIN.replace(
        '  executor = "custom"\n',
        '  executor = "custom"\n  token_obtained_at = 2024-05-01T12:00:00Z\n  token_expires_at = 2024-06-01T12:00:00.500Z\n',
      ).replace('"glrt-old-lxd"', '"glrt-NEW"'),
    );
  });

  test("a section with no key yet, at the end of a file without a final line end", () => {
    expect(setRunnerKeys("[[runners]]", 0, [["token", '"t"']])).toBe('[[runners]]\n  token = "t"\n');
  });

  test("runners it cannot edit as sections are refused", () => {
    expect(() => runnerSections('runners = [{ name = "a" }]\n')).toThrow(SectionEditError);
    expect(() => setRunnerKeys('[[runners]]\n  token.x = "a"\n', 0, [["token", '"t"']])).toThrow(
      "runners[0].token is written as a table, not a value",
    );
    expect(() => removeRunnerSections(ADMIN, [2])).toThrow("there is no runners[2] section");
  });
});

describe("token times", () => {
  test("read as GitLab Runner writes them; Go's zero time is no time", () => {
    const doc = parse(
      'a = 2024-01-02T03:04:05Z\nb = 0001-01-01T00:00:00Z\nc = "2024-01-02T05:04:05+02:00"\nd = 2024-01-02T03:04:05\ne = 3\n',
    );
    expect(readTokenTime(doc.a ?? "")).toEqual({ ok: true, time: new Date("2024-01-02T03:04:05Z") });
    expect(readTokenTime(doc.b ?? "")).toEqual({ ok: true, time: undefined });
    expect(readTokenTime(doc.c ?? "")).toEqual({ ok: true, time: new Date("2024-01-02T03:04:05Z") });
    expect(readTokenTime(doc.d ?? "").ok).toBe(false); // a local date-time: no zone
    expect(readTokenTime(doc.e ?? "").ok).toBe(false);
  });

  test("written as GitLab Runner writes them", () => {
    expect(tokenTimeToml(new Date("2024-05-01T12:00:00.000Z"))).toBe("2024-05-01T12:00:00Z");
    expect(tokenTimeToml(new Date("2024-05-01T12:00:00.120Z"))).toBe("2024-05-01T12:00:00.120Z");
    expect(tokenTimeToml(undefined)).toBe("0001-01-01T00:00:00Z");
    expect(parseRfc3339("2024-05-01T12:00:00.123456789Z")).toEqual(new Date("2024-05-01T12:00:00.123Z"));
    expect(parseRfc3339("2024-05-01")).toBeUndefined();
  });

  test("a wrong value is a config error naming the key", () => {
    const { problems } = checkConfigText(
      '[[runners]]\n  name = "a"\n  token_expires_at = "soon"\n',
      "config.toml",
    );
    expect(problems.map((p) => `${p.line}: ${p.keyPath}: ${p.message}`)).toEqual([
      '3: runners[0] ("a").token_expires_at: expected a date-time with a time zone, like 2024-05-01T12:00:00Z, got string "soon"',
    ]);
  });
});

describe("editing a config file", () => {
  test("register, rotate, remove: comments kept, mode 0600, the result checks clean", () => {
    using dir = tempDir();
    const file = dir.file("config.toml", ADMIN, 0o644);
    editConfigFile(file, addRunner(registered, file));
    expect(readFileSync(file, "utf8")).toBe(`${ADMIN}\n${newRunnerSection(registered)}`);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const change = {
      url: "https://gitlab.example.com",
      oldToken: "glrt-old-shell",
      token: "glrt-rotated",
      obtainedAt: new Date("2024-01-24T00:00:00Z"),
      expiresAt: new Date("2024-02-24T00:00:00Z"),
    };
    const { config } = editConfigFile(file, writeRotatedToken(change, file));
    expect(config.runners[0]).toMatchObject({
      name: "shell",
      token: "glrt-rotated",
      tokenObtainedAt: change.obtainedAt,
      tokenExpiresAt: change.expiresAt,
    });
    const text = readFileSync(file, "utf8");
    expect(text).toContain('  token = "glrt-rotated"\n  token_obtained_at = 2024-01-24T00:00:00Z\n');
    expect(text).toContain('  name = "shell"          # keep this name: dashboards use it\n');

    editConfigFile(
      file,
      removeRunners([{ name: "lxd", url: "https://gitlab.example.com", token: "glrt-old-lxd" }]),
    );
    const after = readFileSync(file, "utf8");
    expect(after).not.toContain("lxd");
    expect(after).toContain("# Hooks for every job.");
    expect(checkConfigText(after, file).problems.filter((p) => p.severity === "error")).toEqual([]);
    // No temporary file is left beside it.
    expect(readdirSync(dir.path)).toEqual(["config.toml"]);
  });

  test("a new file is created 0600 in a new 0700 directory", () => {
    using dir = tempDir();
    const file = join(dir.path, "etc", "drover", "config.toml");
    editConfigFile(file, addRunner(registered, file), { create: true });
    expect(readFileSync(file, "utf8")).toBe(newRunnerSection(registered));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir.path, "etc", "drover")).mode & 0o777).toBe(0o700);
  });

  test("a symbolic link is kept; its target is replaced", () => {
    using dir = tempDir();
    const target = dir.file("real.toml", ADMIN, 0o600);
    const link = join(dir.path, "config.toml");
    symlinkSync(target, link);
    editConfigFile(link, addRunner(registered, link));
    expect(readFileSync(target, "utf8")).toContain('name = "vm"');
    expect(readdirSync(dir.path).sort()).toEqual(["config.toml", "real.toml"]);
  });

  test("a result drover would refuse is not written, with every problem named", () => {
    using dir = tempDir();
    const file = dir.file("config.toml", ADMIN, 0o600);
    const custom: NewRunner = { ...registered, name: "x", executor: { kind: "custom", runExec: "" } };
    let error: DroverError | undefined;
    try {
      editConfigFile(file, addRunner(custom, file));
    } catch (err) {
      error = DroverError.from(err);
    }
    expect(error?.code).toBe("config_invalid");
    expect(error?.shortMessage).toBe(
      `cannot add runner "x" in ${JSON.stringify(file)}: the result would not be a valid configuration; the file was not changed`,
    );
    expect(error?.details.problems).toEqual([
      `${file}:42: runners[2] ("x").custom.run_exec: custom executor is missing RunExec`,
    ]);
    expect(readFileSync(file, "utf8")).toBe(ADMIN);
  });

  test("a name already in the file is refused before anything else", () => {
    using dir = tempDir();
    const file = dir.file("config.toml", ADMIN, 0o600);
    expect(() => editConfigFile(file, addRunner({ ...registered, name: "lxd" }, file))).toThrow(
      `a runner named "lxd" is already in ${file}: choose another name with --name (runner names are unique)`,
    );
  });

  test("a file another user could change is refused, and so is a directory anyone can write", () => {
    using dir = tempDir();
    const file = dir.file("config.toml", ADMIN, 0o666);
    expect(() => editConfigFile(file, addRunner(registered, file))).toThrow("is world-writable");
    expect(readFileSync(file, "utf8")).toBe(ADMIN);
    const open = join(dir.path, "open");
    editConfigFile(join(open, "x.toml"), addRunner(registered, join(open, "x.toml")), { create: true });
    chmodSync(open, 0o777);
    const inOpen = join(open, "sub", "config.toml");
    expect(() => editConfigFile(inOpen, addRunner(registered, inOpen), { create: true })).toThrow(
      "is world-writable",
    );
    expect(existsSync(join(open, "sub"))).toBe(false);
  });

  test("a file that is not valid TOML is not touched", () => {
    using dir = tempDir();
    const file = dir.file("config.toml", "concurrent = \n", 0o600);
    expect(() => editConfigFile(file, addRunner(registered, file))).toThrow(
      "the file is not valid TOML (line 1",
    );
    expect(readFileSync(file, "utf8")).toBe("concurrent = \n");
  });

  test("a file that cannot be written: a clear error, the old file intact, no temporary file", () => {
    using dir = tempDir();
    const file = dir.file("config.toml", ADMIN, 0o600);
    {
      using _ = unwritableDirectory(dir.path);
      expect(() => editConfigFile(file, addRunner(registered, file))).toThrow(
        new RegExp(
          `^cannot write ${escapeRegExp(JSON.stringify(file))}: (EACCES|EPERM) \\(permission denied: drover's user must be able to write the directory\\)$`,
        ),
      );
    }
    expect(readFileSync(file, "utf8")).toBe(ADMIN);
    expect(readdirSync(dir.path)).toEqual(["config.toml"]);
  });

  test("a rotated token whose runner is no longer in the file is an error, the file unchanged", () => {
    using dir = tempDir();
    const file = dir.file("config.toml", ADMIN, 0o600);
    const change = {
      url: "https://gitlab.example.com",
      oldToken: "glrt-gone",
      token: "glrt-x",
      obtainedAt: new Date(),
      expiresAt: undefined,
    };
    expect(() => editConfigFile(file, writeRotatedToken(change, file))).toThrow(
      'no runner in FILE has url "https://gitlab.example.com" and the old token any more'.replace(
        "FILE",
        file,
      ),
    );
    expect(readFileSync(file, "utf8")).toBe(ADMIN);
  });
});
