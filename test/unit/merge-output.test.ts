/**
 * plugins/sdk/merge-output.ts: stdout and stderr as one ordered stream of chunks; chunks that
 * queued up while the consumer was busy go out together (same stream, in order, up to 256 KiB),
 * never mixing streams.
 */
import { describe, expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { mergeOutput, type TaggedChunk } from "../../plugins/sdk/merge-output.ts";

describe("mergeOutput", () => {
  test("a slow consumer gets queued chunks of one stream together; streams never mix; nothing is lost", async () => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const got: TaggedChunk[] = [];
    const consume = (async () => {
      for await (const chunk of mergeOutput(stdout, stderr)) {
        got.push(chunk);
        await new Promise((resolve) => setTimeout(resolve, 20)); // busy: the queue fills meanwhile
      }
    })();
    const written: Array<["stdout" | "stderr", string]> = [];
    const write = (stream: "stdout" | "stderr", text: string) => {
      written.push([stream, text]);
      (stream === "stdout" ? stdout : stderr).write(text);
    };
    write("stdout", "first\n");
    await new Promise((resolve) => setTimeout(resolve, 5));
    for (let i = 0; i < 5; i++) write("stdout", `out ${i}\n`);
    write("stderr", "err\n");
    write("stdout", "last\n");
    stdout.end();
    stderr.end();
    await consume;
    // Per stream, the bytes in order; across streams, each chunk is one stream's.
    const text = (stream: string) =>
      got
        .filter((c) => c.stream === stream)
        .map((c) => Buffer.from(c.data).toString())
        .join("");
    expect(text("stdout")).toBe(
      written
        .filter(([s]) => s === "stdout")
        .map(([, t]) => t)
        .join(""),
    );
    expect(text("stderr")).toBe("err\n");
    // The five queued stdout writes left fewer chunks than writes.
    expect(got.length).toBeLessThan(written.length);
  });

  test("a chunk never grows past 256 KiB", async () => {
    const stdout = new PassThrough({ highWaterMark: 1 });
    const stderr = new PassThrough();
    const sizes: number[] = [];
    const consume = (async () => {
      for await (const chunk of mergeOutput(stdout, stderr)) {
        sizes.push(chunk.data.length);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    for (let i = 0; i < 12; i++) stdout.write(Buffer.alloc(100 * 1024, 0x61));
    stdout.end();
    stderr.end();
    await consume;
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(12 * 100 * 1024);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(256 * 1024);
  });
});
