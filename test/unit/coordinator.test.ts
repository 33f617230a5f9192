/**
 * The coordinator client's pieces on their own: backoff, the coordinator's headers, failure reason
 * compatibility, and the trace uploader against the fake GitLab (real HTTP on 127.0.0.1).
 */
import { describe, expect, test } from "bun:test";
import { crc32 } from "node:zlib";
import { Backoff } from "../../src/coordinator/backoff.ts";
import { supportedFailureReason } from "../../src/coordinator/failure-reason.ts";
import { type Answer, CoordinatorHttp } from "../../src/coordinator/http.ts";
import { remoteJobState, remoteTraceOffset } from "../../src/coordinator/remote-state.ts";
import { TraceUploader } from "../../src/coordinator/trace-uploader.ts";
import { memorySink } from "../../src/log/sinks.ts";
import { FakeCoordinator } from "../fixtures/fake-coordinator.ts";

function answer(status: number, headers: Record<string, string>): Answer {
  return { ok: true, status, headers: new Headers(headers), body: "", requestId: "0".repeat(32) };
}

describe("Backoff", () => {
  test("doubles up to the ceiling, jittered within [delay/2, delay], and starts over after reset", () => {
    const low = new Backoff({ initialMs: 500, maxMs: 4_000, random: () => 0 });
    expect([1, 2, 3, 4, 5].map(() => low.next())).toEqual([250, 500, 1000, 2000, 2000]);
    const high = new Backoff({ initialMs: 500, maxMs: 4_000, random: () => 0.999999 });
    expect([1, 2, 3, 4, 5].map(() => high.next())).toEqual([500, 1000, 2000, 4000, 4000]);
    high.reset();
    expect(high.failures).toBe(0);
    expect(high.next()).toBe(500);
  });
});

describe("the coordinator's headers", () => {
  test("Job-Status canceling asks for a cancel; canceled, failed and 403 abort", () => {
    expect(remoteJobState(answer(202, { "Job-Status": "canceling" }))).toMatchObject({
      canceling: true,
      aborted: false,
    });
    expect(remoteJobState(answer(202, { "Job-Status": "canceled" }))).toMatchObject({
      canceling: false,
      aborted: true,
    });
    expect(remoteJobState(answer(200, { "Job-Status": "failed" })).aborted).toBe(true);
    expect(remoteJobState(answer(403, {})).aborted).toBe(true);
    expect(remoteJobState(answer(202, { "Job-Status": "running" }))).toMatchObject({
      canceling: false,
      aborted: false,
    });
  });

  test("X-GitLab-Trace-Update-Interval: whole positive seconds, capped at 15 minutes; anything else ignored", () => {
    const interval = (value: string) =>
      remoteJobState(answer(202, { "X-GitLab-Trace-Update-Interval": value })).updateIntervalMs;
    expect(interval("10")).toBe(10_000);
    expect(interval("100000")).toBe(15 * 60_000);
    expect(interval("0")).toBeUndefined();
    expect(interval("-10")).toBeUndefined();
    expect(interval("some text")).toBeUndefined();
    expect(interval("1.5")).toBeUndefined();
  });

  test("Range: 0-<size> of a 416 is the offset to resume from", () => {
    expect(remoteTraceOffset(answer(416, { Range: "0-11" }))).toBe(11);
    expect(remoteTraceOffset(answer(416, {}))).toBeUndefined();
    expect(remoteTraceOffset(answer(416, { Range: "bytes" }))).toBeUndefined();
  });
});

describe("failure reasons", () => {
  test("as they are when GitLab lists none; else a reason it knows, an older one, or unknown_failure", () => {
    const listing = (reasons: string[]) => ({ features: { failure_reasons: reasons } });
    expect(supportedFailureReason("runner_interrupted", {})).toBe("runner_interrupted");
    expect(supportedFailureReason("job_canceled", listing(["job_canceled"]))).toBe("job_canceled");
    expect(supportedFailureReason("script_failure", listing(["unknown_failure"]))).toBe("script_failure");
    expect(supportedFailureReason("runner_interrupted", listing(["unknown_failure"]))).toBe(
      "runner_system_failure",
    );
    expect(supportedFailureReason("runner_configuration_error", listing(["unknown_failure"]))).toBe(
      "script_failure",
    );
    expect(supportedFailureReason("job_canceled", listing(["unknown_failure"]))).toBe("unknown_failure");
  });
});

describe("TraceUploader", () => {
  test("sends Content-Range pieces, resumes from GitLab's Range after a 416, checksums the whole trace", async () => {
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("r");
    const id = fake.enqueue("r");
    fake.job(id).status = "running";
    const trace = memorySink();
    const uploader = new TraceUploader({
      http: new CoordinatorHttp(fake.url),
      jobId: id,
      token: fake.job(id).token,
      trace,
      debugTrace: false,
    });
    trace.write(Buffer.from("hello"));
    expect((await uploader.patch()).kind).toBe("sent");
    trace.write(Buffer.from(" world"));
    fake.dropNextPatch(id);
    expect((await uploader.patch()).kind).toBe("sent"); // acknowledged, then lost by GitLab
    trace.write(Buffer.from("!"));
    expect((await uploader.patch()).kind).toBe("range_mismatch");
    expect(uploader.sentOffset).toBe(5);
    expect((await uploader.patch()).kind).toBe("sent");
    expect(uploader.hasUnsent).toBe(false);
    expect(fake.job(id).patches.map((p) => `${p.range} ${p.status}`)).toEqual([
      "0-4 202",
      "5-10 202",
      "11-11 416",
      "5-11 202",
    ]);
    expect(fake.traceText(id)).toBe("hello world!");
    expect(uploader.checksum()).toBe(`crc32:${crc32("hello world!").toString(16).padStart(8, "0")}`);
    // Nothing new: no request at all.
    expect((await uploader.patch()).kind).toBe("sent");
    expect(fake.job(id).patches).toHaveLength(4);
  });

  test("a coordinator that is not there is a failed patch with one clear sentence, never a throw", async () => {
    const fake = await FakeCoordinator.start();
    const url = fake.url;
    await fake.close();
    const trace = memorySink();
    trace.write(Buffer.from("x"));
    const uploader = new TraceUploader({
      http: new CoordinatorHttp(url),
      jobId: 1,
      token: "t",
      trace,
      debugTrace: false,
    });
    const result = await uploader.patch();
    expect(result.kind).toBe("failed");
    expect(result.kind === "failed" && result.problem).toMatch(/^connection refused by 127\.0\.0\.1:\d+$/);
  });
});
