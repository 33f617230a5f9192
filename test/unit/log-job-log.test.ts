import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JobLogOptions } from "../../src/log/job-log.ts";
import { fdSink, formatDuration, JobLog, memorySink } from "../../src/log/job-log.ts";

const enc = (text: string): Uint8Array => Buffer.from(text);

function jobLog(opts: Partial<JobLogOptions> = {}) {
  const sink = memorySink();
  const log = new JobLog({ sink, color: false, ...opts });
  return { log, sink };
}

describe("JobLog", () => {
  test("passes output through in order, byte-exact", () => {
    const { log, sink } = jobLog();
    const binary = Uint8Array.from([0, 255, 10, 13, 0xc3]);
    log.output(enc("hello "));
    log.output(binary);
    log.output(enc("world\n"));
    log.flush();
    expect(Buffer.from(sink.bytes())).toEqual(Buffer.concat([enc("hello "), binary, enc("world\n")]));
    expect(log.bytesWritten).toBe(sink.size);
  });

  test("prefixes every line start, across partial lines and chunks", () => {
    const { log, sink } = jobLog({ prefix: "[build] " });
    log.output(enc("one\ntw"));
    log.output(enc("o\n"));
    log.output(enc("\nthr"));
    log.line("drover says hi");
    log.output(enc("four\nfive"));
    log.flush();
    expect(sink.text()).toBe(
      "[build] one\n[build] two\n[build] \n[build] thr\n[build] drover says hi\n[build] four\n[build] five",
    );
  });

  test("masks output split across chunks, and values added later", () => {
    const { log, sink } = jobLog({ masks: ["s3cret"], prefix: "> " });
    log.output(enc("a s3"));
    log.output(enc("cret b\n"));
    log.addMask("added!");
    log.output(enc("x added"));
    log.output(enc("! y\n"));
    log.flush();
    expect(sink.text()).toBe("> a [MASKED] b\n> x [MASKED] y\n");
  });

  test("masks drover's own lines, section titles and notes", () => {
    const { log, sink } = jobLog({ masks: ["s3cret"] });
    log.line("$ curl -H 'token: s3cret'", "command");
    log.sectionStart("step_s3cret", "Running s3cret step");
    log.sectionEnd("step", { ok: false, durationMs: 1020, note: "exit status 3 (s3cret)" });
    expect(sink.text()).toBe(
      "$ curl -H 'token: [MASKED]'\nRunning [MASKED] step\n✗ step 1.02s: exit status 3 ([MASKED])\n",
    );
  });

  test("a drover line after a partial output line starts on a new line", () => {
    const { log, sink } = jobLog();
    log.output(enc("no newline"));
    log.sectionEnd("build_script", { ok: true, durationMs: 210 });
    expect(sink.text()).toBe("no newline\n✓ build_script 0.21s\n");
  });

  test("truncates at the limit with a notice, then drops everything", () => {
    const { log, sink } = jobLog({ limitBytes: 20, prefix: "[j] " });
    log.output(enc("0123456789\n"));
    log.output(enc("abcdefghij\n"));
    log.output(enc("more\n"));
    log.line("ignored");
    log.sectionEnd("x", { ok: true, durationMs: 1 });
    expect(sink.text()).toBe(
      "[j] 0123456789\n[j] a\n[j] Job's log exceeded limit of 20 bytes. Job execution will continue but no more output will be collected.\n",
    );
    expect(log.truncated).toBe(true);
    expect(log.bytesWritten).toBe(sink.size);
  });

  test("the limit counts bytes after masking and does not split a UTF-8 character", () => {
    const { log, sink } = jobLog({ limitBytes: 12, masks: ["a-very-long-secret-value"] });
    log.output(enc("a-very-long-secret-value é"));
    log.flush();
    // "[MASKED] " is 9 bytes, "é" is 2 bytes: 11 fit; with 1 byte of room left nothing is split.
    log.output(enc("é"));
    expect(sink.text()).toBe(
      "[MASKED] é\nJob's log exceeded limit of 12 bytes. Job execution will continue but no more output will be collected.\n",
    );
  });

  test("colour off writes no escape codes; colour on writes GitLab's", () => {
    const plain = jobLog();
    const colored = jobLog({ color: true });
    for (const { log } of [plain, colored]) {
      log.sectionStart("build_script", 'Executing "build_script" stage of the job script');
      log.line("$ make", "command");
      log.output(enc("ok\n"));
      log.line("careful", "warning");
      log.sectionEnd("build_script", { ok: true, durationMs: 210 });
      log.sectionEnd("after_script", { ok: false, durationMs: 61_000, note: "exit status 3" });
    }
    expect(plain.sink.text()).toBe(
      'Executing "build_script" stage of the job script\n$ make\nok\ncareful\n✓ build_script 0.21s\n✗ after_script 1m01s: exit status 3\n',
    );
    expect(plain.sink.text()).not.toContain("\x1b");
    expect(colored.sink.text()).toBe(
      '\x1b[36;1mExecuting "build_script" stage of the job script\x1b[0;m\n\x1b[32;1m$ make\x1b[0;m\nok\n' +
        "\x1b[0;33mcareful\x1b[0;m\n\x1b[32;1m✓\x1b[0;m build_script 0.21s\n\x1b[31;1m✗\x1b[0;m after_script 1m01s: exit status 3\n",
    );
  });

  test("GitLab section markers when asked", () => {
    const { log, sink } = jobLog({ sectionMarkers: true });
    log.sectionStart("get sources", "Getting source from Git repository");
    log.output(enc("partial"));
    log.sectionEnd("get sources", { ok: true, durationMs: 1500 });
    expect(sink.text()).toMatch(
      /^section_start:\d+:get_sources\r\x1b\[0KGetting source from Git repository\npartial\n✓ get sources 1\.50s\nsection_end:\d+:get_sources\r\x1b\[0K$/,
    );
  });

  test("durations", () => {
    expect([0, 210, 59_994, 60_000, 3_723_000].map(formatDuration)).toEqual([
      "0.00s",
      "0.21s",
      "59.99s",
      "1m00s",
      "1h02m03s",
    ]);
  });

  test("fdSink writes everything to a file descriptor", () => {
    const path = join(tmpdir(), `drover-joblog-${process.pid}-${Date.now()}`);
    const fd = openSync(path, "w");
    try {
      const log = new JobLog({ sink: fdSink(fd), color: false, masks: ["pw"] });
      const big = Buffer.alloc(1 << 20, "x");
      log.output(big);
      log.output(enc("\npw\n"));
      log.flush();
      expect(readFileSync(path)).toEqual(Buffer.concat([big, enc("\n[MASKED]\n")]));
    } finally {
      closeSync(fd);
      rmSync(path, { force: true });
    }
  });
});
