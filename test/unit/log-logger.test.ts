import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DroverError } from "../../kernel/errors.ts";
import { createLogger, type LoggerOptions } from "../../src/log/logger.ts";
import { addLogRedaction, redactLogText } from "../../src/log/redaction.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A logger writing to a temp file; `read()` returns what it wrote. */
function fileLogger(opts: Omit<LoggerOptions, "destinationFd">) {
  const dir = mkdtempSync(join(tmpdir(), "drover-log-"));
  const path = join(dir, "log");
  const fd = openSync(path, "w");
  cleanups.push(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  const logger = createLogger({ ...opts, destinationFd: fd });
  return { logger, read: () => readFileSync(path, "utf8") };
}

const records = (text: string): Record<string, unknown>[] =>
  text
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));

describe("createLogger", () => {
  test("writes JSON lines, children carry their context, errors under err", () => {
    const { logger, read } = fileLogger({ level: "info", pretty: false });
    logger.child({ plugin: "firecracker" }).info({ pid: 42 }, "plugin started");
    logger.debug("hidden at info");
    logger.error(
      { err: new DroverError("plugin_died", "plugin died", { plugin: "fc", stderrTail: "boom" }) },
      "job failed",
    );
    const [started, failed, ...rest] = records(read());
    expect(rest).toEqual([]);
    expect(started).toEqual({
      level: 30,
      time: expect.any(Number),
      plugin: "firecracker",
      pid: 42,
      msg: "plugin started",
    });
    expect(failed).toEqual({
      level: 50,
      time: expect.any(Number),
      err: {
        type: "DroverError",
        message: "plugin died",
        code: "plugin_died",
        details: { plugin: "fc", stderrTail: "boom" },
      },
      msg: "job failed",
    });
  });

  test("the stack and cause chain at debug", () => {
    const { logger, read } = fileLogger({ level: "debug", pretty: false });
    logger.error(
      { err: new Error("outer", { cause: Object.assign(new Error("inner"), { code: "ENOENT" }) }) },
      "failed",
    );
    const [record] = records(read());
    const err = record!.err as Record<string, unknown>;
    expect(err.message).toBe("outer");
    expect(String(err.stack)).toContain("Error: outer");
    expect(err.cause).toMatchObject({ type: "Error", message: "inner", code: "ENOENT" });
  });

  test("pretty: time, level, message, key=value, no colour when off", () => {
    const { logger, read } = fileLogger({ level: "debug", pretty: true, color: false });
    logger
      .child({ plugin: "fc" })
      .warn({ n: 2, reason: "exit status 3", settings: { vcpus: 2 } }, "plugin slow");
    logger.info("escape \x1b[31m attempt\nsecond line");
    logger.error({ err: new DroverError("process", "driver failed") }, "stage failed");
    const lines = read().split("\n");
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} WARN {2}plugin slow plugin=fc n=2 reason="exit status 3" settings=\{"vcpus":2\}$/,
    );
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}escape \\x1b\[31m attempt\\nsecond line$/);
    expect(lines[2]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} ERROR stage failed err="driver failed" err.code=process$/,
    );
    expect(lines[3]).toMatch(/^ {4}DroverError: driver failed$/);
    expect(read()).not.toContain("\x1b");
  });

  test("pretty with colour colours the level", () => {
    const { logger, read } = fileLogger({ level: "info", pretty: true });
    logger.error("bad");
    expect(read()).toContain("\x1b[31mERROR\x1b[0m bad");
  });

  test("never prints a redacted value, raw or JSON-escaped, until released", () => {
    const { logger, read } = fileLogger({ level: "info", pretty: false });
    const quoted = 'p"a\\ss\nword';
    const redaction = addLogRedaction(["s3cret-token", quoted]);
    cleanups.push(() => redaction.remove());
    logger.info({ token: "s3cret-token", other: quoted }, "using s3cret-token");
    logger.child({ plugin: "x" }).error({ err: new Error("bad s3cret-token") }, "failed");
    redaction.remove();
    logger.info("released s3cret-token");
    const [first, second, third] = records(read());
    expect(first).toMatchObject({ token: "[MASKED]", other: "[MASKED]", msg: "using [MASKED]" });
    expect(second).toMatchObject({ err: { message: "bad [MASKED]" } });
    expect(third).toMatchObject({ msg: "released s3cret-token" });
  });

  test("redaction applies to pretty lines and counts registrations", () => {
    const { logger, read } = fileLogger({ level: "info", pretty: true, color: false });
    const a = addLogRedaction(["hunter22"]);
    const b = addLogRedaction(["hunter22"]);
    a.remove();
    a.remove();
    logger.info({ pw: "hunter22" }, "login");
    expect(redactLogText("x hunter22")).toBe("x [MASKED]");
    b[Symbol.dispose]();
    expect(redactLogText("x hunter22")).toBe("x hunter22");
    expect(read()).toMatch(/ INFO {2}login pw=\[MASKED\]\n$/);
  });
});
