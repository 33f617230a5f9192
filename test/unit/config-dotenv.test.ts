/** The runner's `.env` beside config.toml (src/config/dotenv.ts), read as GitHub's listener reads its own. */
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { loadDotenv, parseDotenv } from "../../src/config/dotenv.ts";
import { tempDir } from "../harness.ts";

describe(".env: GitHub's parsing rules", () => {
  test("NAME=value lines; the value is everything after the first '=', nothing trimmed or unquoted", () => {
    expect(
      parseDotenv(
        '\uFEFFhttps_proxy=http://proxy:3128\r\nA=b=c\nSPACED = kept \nQUOTED="as is"\rEMPTY=\n\nno equals sign\n=starts with equals\n  \n',
      ),
    ).toEqual({
      variables: [
        { name: "https_proxy", value: "http://proxy:3128", line: 1 },
        { name: "A", value: "b=c", line: 2 },
        { name: "SPACED ", value: " kept ", line: 3 },
        { name: "QUOTED", value: '"as is"', line: 4 },
        // GitHub sets null: the variable is removed.
        { name: "EMPTY", value: undefined, line: 5 },
      ],
      skipped: [],
    });
  });

  test("drover's differences: comments, the names that steer drover, NUL characters", () => {
    expect(
      parseDotenv(
        "# http_proxy=http://old\n  #x=y\nDROVER_CONFIG=/tmp/other.toml\nBAD=a\0b\nOK=1\nDROVER_PLUGIN_DIR=/opt/p\n",
      ),
    ).toEqual({
      variables: [
        { name: "OK", value: "1", line: 5 },
        { name: "DROVER_PLUGIN_DIR", value: "/opt/p", line: 6 },
      ],
      skipped: [
        { line: 3, message: "DROVER_CONFIG steers drover itself: left unchanged" },
        { line: 4, message: "BAD: a NUL character cannot be in an environment variable: ignored" },
      ],
    });
  });
});

describe(".env: loading beside the config file", () => {
  test("sets and removes variables, overriding what the environment has (as GitHub does); warnings name file and line", () => {
    using dir = tempDir();
    const config = dir.file("config.toml", "");
    dir.file(".env", "HOOK_GREETING=hello\nLANG=C\nREMOVED=\nDROVER_PROCESS_TAG=x\n", 0o600);
    const env: Record<string, string | undefined> = { LANG: "en_US.UTF-8", REMOVED: "was here", KEEP: "k" };
    const result = loadDotenv(config, env);
    expect(result).toEqual({
      file: join(dir.path, ".env"),
      names: ["HOOK_GREETING", "LANG", "REMOVED"],
      warnings: [
        {
          severity: "warning",
          file: join(dir.path, ".env"),
          line: 4,
          keyPath: "",
          message: "DROVER_PROCESS_TAG steers drover itself: left unchanged",
        },
      ],
    });
    expect(env).toEqual({ LANG: "C", KEEP: "k", HOOK_GREETING: "hello" });
  });

  test("a reload starts from the environment before the previous .env: removed lines no longer apply", () => {
    using dir = tempDir();
    const config = dir.file("config.toml", "");
    dir.file(".env", "A=1\nB=2\nC=\n", 0o600);
    const env: Record<string, string | undefined> = { B: "original", C: "original c" };
    loadDotenv(config, env);
    expect(env).toEqual({ A: "1", B: "2" });
    dir.file(".env", "A=changed\n", 0o600);
    loadDotenv(config, env);
    expect(env).toEqual({ A: "changed", B: "original", C: "original c" });
    dir.file(".env", "", 0o600);
    loadDotenv(config, env);
    expect(env).toEqual({ B: "original", C: "original c" });
  });

  test("no config file, or no .env beside it: nothing changes", () => {
    using dir = tempDir();
    const env = { A: "1" };
    expect(loadDotenv(undefined, env)).toEqual({ file: undefined, names: [], warnings: [] });
    expect(loadDotenv(join(dir.path, "config.toml"), env)).toEqual({
      file: undefined,
      names: [],
      warnings: [],
    });
    expect(env).toEqual({ A: "1" });
  });

  test("config.toml's trust rule: world-writable is refused and nothing changes, group-writable is a warning", () => {
    using dir = tempDir();
    const config = dir.file("config.toml", "");
    const dotenv = dir.file(".env", "A=1\n", 0o666);
    const env: Record<string, string | undefined> = {};
    expect(() => loadDotenv(config, env)).toThrow(
      `cannot use ${JSON.stringify(dotenv)}: not trusted (another local user could change what drover runs): ${dotenv} is world-writable (mode 0666); fix with: chmod o-w ${dotenv}`,
    );
    expect(env).toEqual({});
    chmodSync(dotenv, 0o664);
    expect(loadDotenv(config, env).warnings.map((w) => w.message)).toEqual([
      `not trusted (another local user could change what drover runs): ${dotenv} is group-writable (mode 0664); fix with: chmod g-w ${dotenv}`,
    ]);
    expect(env).toEqual({ A: "1" });
  });

  test("a refused .env on reload leaves the previous one in effect", () => {
    using dir = tempDir();
    const config = dir.file("config.toml", "");
    const dotenv = dir.file(".env", "A=1\n", 0o600);
    const env: Record<string, string | undefined> = {};
    loadDotenv(config, env);
    chmodSync(dotenv, 0o666);
    expect(() => loadDotenv(config, env)).toThrow("world-writable");
    expect(env).toEqual({ A: "1" });
  });

  test("a .env that is not a regular file is a configuration error", () => {
    using dir = tempDir();
    const config = dir.file("config.toml", "");
    mkdirSync(join(dir.path, ".env"));
    expect(() => loadDotenv(config, {})).toThrow(
      `cannot use ${JSON.stringify(join(dir.path, ".env"))}: not a regular file`,
    );
  });
});
