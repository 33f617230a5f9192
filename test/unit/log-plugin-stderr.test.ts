import { afterEach, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { createLogger } from "../../src/log/logger.ts";
import { forwardPluginStderr, parsePluginLogLine } from "../../src/log/plugin-stderr.ts";
import { addLogRedaction } from "../../src/log/redaction.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function fileLogger() {
  const dir = mkdtempSync(join(tmpdir(), "drover-plugin-log-"));
  const path = join(dir, "log");
  const fd = openSync(path, "w");
  cleanups.push(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  const logger = createLogger({ level: "trace", pretty: false, destinationFd: fd });
  const records = (): Record<string, unknown>[] =>
    readFileSync(path, "utf8")
      .trim()
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line));
  return { logger, records };
}

async function* chunks(...parts: (string | Uint8Array)[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield typeof part === "string" ? Buffer.from(part) : part;
}

describe("parsePluginLogLine", () => {
  test("pino JSON keeps its level, message and fields", () => {
    expect(parsePluginLogLine('{"level":40,"time":1,"pid":7,"hostname":"h","msg":"slow","ms":12}')).toEqual({
      level: "warn",
      msg: "slow",
      fields: { plugin_pid: 7, plugin_hostname: "h", ms: 12 },
    });
    expect(parsePluginLogLine('{"level":"error","msg":"x"}')).toEqual({
      level: "error",
      msg: "x",
      fields: {},
    });
    expect(parsePluginLogLine('{"level":35,"msg":"custom"}').level).toBe("info");
    expect(parsePluginLogLine('{"level":60,"msg":"dead"}').level).toBe("fatal");
    expect(parsePluginLogLine('{"level":10,"msg":"t"}').level).toBe("trace");
  });

  test("hclog JSON (go-plugin) keeps its level, message, module and fields", () => {
    const line =
      '{"@level":"debug","@message":"serving","@module":"plugin.fc","@timestamp":"2024-01-02T03:04:05.000000Z","addr":"/tmp/p"}\r';
    expect(parsePluginLogLine(line)).toEqual({
      level: "debug",
      msg: "serving",
      fields: { module: "plugin.fc", addr: "/tmp/p" },
    });
    expect(parsePluginLogLine('{"@level":"warn","@message":"w"}').level).toBe("warn");
  });

  test("hclog text (its default format) keeps its level; the logger's name becomes module", () => {
    expect(parsePluginLogLine("2026-12-02T08:33:00.247Z [WARN]  name: msg")).toEqual({
      level: "warn",
      msg: "msg",
      fields: { module: "name" },
    });
    // What hclog 0.11 (Debian's, with go-plugin 1.0.1) printed for a cancelled stage, key=value
    // pairs included: they stay in the message.
    expect(
      parsePluginLogLine(
        "2026-12-02T14:00:46.503Z [WARN]  hello-executor: stopping a cancelled stage: script=build_script.sh\r",
      ),
    ).toEqual({
      level: "warn",
      msg: "stopping a cancelled stage: script=build_script.sh",
      fields: { module: "hello-executor" },
    });
    expect(
      parsePluginLogLine('2026-12-02T08:33:00.247+0100 [ERROR] plugin.fc: boom: error="no space"'),
    ).toEqual({
      level: "error",
      msg: 'boom: error="no space"',
      fields: { module: "plugin.fc" },
    });
    // A nameless logger; RFC 3339 times; every level; the caller when the logger reports it.
    expect(parsePluginLogLine("2026-12-02T08:33:00Z [INFO]  serving now")).toEqual({
      level: "info",
      msg: "serving now",
      fields: {},
    });
    expect(parsePluginLogLine("2026-12-02T08:33:00.123456789-05:00 [TRACE] fc: t").level).toBe("trace");
    expect(parsePluginLogLine("2026-12-02T08:33:00.247Z [DEBUG] fc: d").level).toBe("debug");
    expect(parsePluginLogLine("2026-12-02T08:33:00.247Z [INFO]  fc/main.go:42: fc.sub: hi")).toEqual({
      level: "info",
      msg: "hi",
      fields: { module: "fc.sub", caller: "fc/main.go:42" },
    });
  });

  test("Go's log package: a [LEVEL] after its date and time is understood too", () => {
    expect(parsePluginLogLine("2026/12/02 08:33:00 [WARN] low disk: 2 GB left")).toEqual({
      level: "warn",
      msg: "low disk: 2 GB left",
      fields: {},
    });
    expect(parsePluginLogLine("2026/12/02 08:33:00.123456 [DEBUG] x").level).toBe("debug");
  });

  test("what only looks like hclog stays plain text at info", () => {
    for (const line of [
      "2026 [WARN] not a time",
      "2026-12-02T08:33:00.247Z [NOTICE] unknown level",
      "2026-12-02T08:33:00.247Z[WARN] no space",
      "disk [ERROR] in the middle",
      "2026-12-02 08:33:00 [WARN] a space, not a T",
    ]) {
      expect(parsePluginLogLine(line)).toEqual({ level: "info", msg: line, fields: {} });
    }
  });

  test("64 KiB lines built to make a regular expression backtrack are parsed (the test's timeout is the bound)", () => {
    const colons = `2026-12-02T08:33:00.247Z [WARN]  ${"1:".repeat(32 * 1024)}`;
    expect(parsePluginLogLine(colons)).toEqual({ level: "warn", msg: "1:".repeat(32 * 1024), fields: {} });
    const token = `2026-12-02T08:33:00.247Z [WARN]  ${"a:1".repeat(20_000)}x`;
    expect(parsePluginLogLine(token).level).toBe("warn");
    const time = `2026-12-02T${"1:".repeat(32 * 1024)} [WARN] x`;
    expect(parsePluginLogLine(time).level).toBe("warn");
  });

  test("plain text is info; go-plugin's [LEVEL] prefixes are understood", () => {
    expect(parsePluginLogLine("panic: runtime error")).toEqual({
      level: "info",
      msg: "panic: runtime error",
      fields: {},
    });
    expect(parsePluginLogLine("[ERROR] disk full")).toEqual({ level: "error", msg: "disk full", fields: {} });
    expect(parsePluginLogLine("[DEBUG] x").level).toBe("debug");
  });

  test("garbage and JSON without a level or message are plain text", () => {
    for (const line of ["{not json", "[1,2]", "null", '{"a":1}', "{", "", "\u0000\uffff"]) {
      expect(parsePluginLogLine(line)).toEqual({ level: "info", msg: line, fields: {} });
    }
    const proto = parsePluginLogLine('{"msg":"m","__proto__":{"polluted":true}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(proto.fields)).toBe(Object.prototype);
  });

  test("never throws", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (line) => {
        const parsed = parsePluginLogLine(line);
        expect(typeof parsed.msg).toBe("string");
      }),
    );
  });
});

describe("forwardPluginStderr", () => {
  test("logs each line at its level with the plugin name, across partial chunks and CRLF", async () => {
    const { logger, records } = fileLogger();
    const forwarded = forwardPluginStderr(
      chunks(
        '{"@level":"warn","@mess',
        'age":"low disk"}\r\nplain ',
        "text\r\n\n2026-12-02T08:33:00.247Z [ERROR] fc.sub: bro",
        "ke: disk=sda\n",
        '{"level":50,"msg":"last, no newline"}',
      ),
      logger,
      "fc",
    );
    await forwarded.done;
    expect(records().map(({ time: _, ...rest }) => rest)).toEqual([
      { level: 40, plugin: "fc", msg: "low disk" },
      { level: 30, plugin: "fc", msg: "plain text" },
      { level: 50, plugin: "fc", module: "fc.sub", msg: "broke: disk=sda" },
      { level: 50, plugin: "fc", msg: "last, no newline" },
    ]);
    expect(forwarded.tail()).toBe(
      '{"@level":"warn","@message":"low disk"}\nplain text\n2026-12-02T08:33:00.247Z [ERROR] fc.sub: broke: disk=sda\n{"level":50,"msg":"last, no newline"}',
    );
  });

  test("keeps the last N lines, the unfinished one included, masked", async () => {
    const { logger } = fileLogger();
    const redaction = addLogRedaction(["tail-s3cret"]);
    cleanups.push(() => redaction.remove());
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* source(): AsyncIterable<Uint8Array> {
      yield Buffer.from("1\n2\n3\n4\nhalf tail-s3cret");
      await gate;
      yield Buffer.from(" done\n");
    }
    const forwarded = forwardPluginStderr(source(), logger, "fc", { tailLines: 3 });
    // The first chunk is read on the next turns of the event loop.
    while (!forwarded.tail().includes("half")) await Bun.sleep(0);
    expect(forwarded.tail()).toBe("3\n4\nhalf [MASKED]");
    release();
    await forwarded.done;
    expect(forwarded.tail()).toBe("3\n4\nhalf [MASKED] done");
  });

  test("a huge line without a newline is cut, and memory stays bounded", async () => {
    const { logger, records } = fileLogger();
    const mib = Buffer.alloc(1 << 20, "y");
    async function* huge(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 50; i++) yield mib;
      yield Buffer.from("\nafter\n");
    }
    const forwarded = forwardPluginStderr(huge(), logger, "fc", { maxLineBytes: 1000 });
    await forwarded.done;
    const [cut, after] = records();
    expect(cut).toMatchObject({
      level: 30,
      plugin: "fc",
      msg: "y".repeat(1000),
      truncatedBytes: 50 * (1 << 20) - 1000,
    });
    expect(after).toMatchObject({ msg: "after" });
    expect(forwarded.tail()).toBe(`${"y".repeat(1000)}\nafter`);
  });

  test("reads a real child process's stderr", async () => {
    const { logger, records } = fileLogger();
    const child = spawn(
      process.execPath,
      ["-e", 'process.stderr.write(\'{"level":20,"msg":"hello"}\\n\'); process.stderr.write("bye")'],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const forwarded = forwardPluginStderr(child.stderr, logger, "child");
    await forwarded.done;
    expect(await exited).toBe(0);
    expect(records().map(({ level, msg, plugin }) => ({ level, msg, plugin }))).toEqual([
      { level: 20, msg: "hello", plugin: "child" },
      { level: 30, msg: "bye", plugin: "child" },
    ]);
  });
});
