/**
 * The final report's bounds (src/coordinator/final-report.ts) against the fake GitLab (real HTTP on
 * 127.0.0.1): job_status_final_update_retry_limit tries, Retry-After between them, 202 waited out
 * without spending a try, a job GitLab says is over, and a kept trace tail resumed where GitLab
 * stands, or reported without its lost part.
 */
import { describe, expect, test } from "bun:test";
import { openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { defaultRunner } from "../../src/config/model.ts";
import { type FinalReport, reportFinalState } from "../../src/coordinator/final-report.ts";
import { CoordinatorHttp } from "../../src/coordinator/http.ts";
import { JobUpdater } from "../../src/coordinator/job-updater.ts";
import { TraceUploader, traceTail } from "../../src/coordinator/trace-uploader.ts";
import { createLogger } from "../../src/log/logger.ts";
import { FakeCoordinator } from "../fixtures/fake-coordinator.ts";
import { type TempDir, tempDir, waitFor } from "../harness.ts";

const checksum = (text: string) => `crc32:${crc32(text).toString(16).padStart(8, "0")}`;

/** A running job at `fake` whose GitLab copy of the trace is `held`; the report of `trace` from `start`. */
function setUp(
  fake: FakeCoordinator,
  dir: TempDir,
  options: { held: string; trace: string; start: number; retryLimit: number },
): { report: FinalReport; id: number; log: () => string } {
  fake.acceptRunner("r");
  const id = fake.enqueue("r");
  const job = fake.job(id);
  job.status = "running";
  job.trace = Buffer.from(options.held);
  const http = new CoordinatorHttp(fake.url);
  const logFile = join(dir.path, "log");
  const logger = createLogger({ level: "debug", pretty: false, destinationFd: openSync(logFile, "a") });
  const bytes = new TextEncoder().encode(options.trace.slice(options.start));
  return {
    id,
    log: () => readFileSync(logFile, "utf8"),
    report: {
      uploader: new TraceUploader({
        http,
        jobId: id,
        token: job.token,
        trace: traceTail(options.start, bytes),
        debugTrace: false,
      }),
      updater: new JobUpdater({ http, runner: defaultRunner(), jobId: id, token: job.token }),
      update: {
        state: "success",
        output: { checksum: checksum(options.trace), bytesize: options.trace.length },
      },
      retryLimit: options.retryLimit,
      logger,
      random: () => 0,
    },
  };
}

const finalPuts = (fake: FakeCoordinator, id: number) =>
  fake.received.filter((r) => r.method === "PUT" && r.path === `/api/v4/jobs/${id}`);

describe("reportFinalState", () => {
  test("a final state GitLab keeps refusing: exactly job_status_final_update_retry_limit tries, then not acknowledged", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    const { report, id, log } = setUp(fake, dir, {
      held: "done\n",
      trace: "done\n",
      start: 5,
      retryLimit: 3,
    });
    fake.refuseFinalUpdates(500);
    expect(await reportFinalState(report)).toBe("not_acknowledged");
    expect(finalPuts(fake, id)).toHaveLength(3);
    expect(fake.job(id).final).toBeUndefined();
    expect(log()).toContain("reporting the job's final state failed; will retry");
    expect(log()).toContain("reporting the job's final state failed; no tries left");
    expect(log()).toContain('"tries":3,"retryLimit":3');
  });

  test("Retry-After decides the pause between tries, not the 0.5 s the backoff would take", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    const { report, id, log } = setUp(fake, dir, {
      held: "done\n",
      trace: "done\n",
      start: 5,
      retryLimit: 2,
    });
    fake.failFor(60_000, 503, { "Retry-After": "1" });
    expect(await reportFinalState(report)).toBe("not_acknowledged");
    const [first, second] = finalPuts(fake, id);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
    expect(log()).toContain('"askedBy":"Retry-After"');
  });

  test("202 (accepted, not complete) is asked again at the update interval without spending a try", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start({ updateIntervalSeconds: 1 });
    const { report, id } = setUp(fake, dir, { held: "done\n", trace: "done\n", start: 5, retryLimit: 1 });
    fake.refuseFinalUpdates(202);
    const reporting = reportFinalState(report);
    await waitFor("two 202s", () => finalPuts(fake, id).length >= 2);
    fake.refuseFinalUpdates(undefined);
    expect(await reporting).toBe("accepted");
    expect(fake.job(id).final).toMatchObject({ state: "success", output: { bytesize: 5 } });
  });

  test("GitLab says the job is over: job_over, no further try", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    const { report, id } = setUp(fake, dir, { held: "done\n", trace: "done\n", start: 5, retryLimit: 5 });
    fake.job(id).status = "canceled";
    expect(await reportFinalState(report)).toBe("job_over");
    expect(finalPuts(fake, id)).toHaveLength(1);
  });

  test("a kept tail resumes where GitLab's copy ends (416, Range), then the state", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    const { report, id } = setUp(fake, dir, {
      held: "hello ",
      trace: "hello world\n",
      start: 3,
      retryLimit: 2,
    });
    expect(await reportFinalState(report)).toBe("accepted");
    expect(fake.traceText(id)).toBe("hello world\n");
    expect(fake.job(id).patches.map((p) => `${p.range} ${p.status}`)).toEqual(["3-11 416", "6-11 202"]);
    expect(fake.job(id).final?.output).toEqual({ checksum: checksum("hello world\n"), bytesize: 12 });
  });

  test("GitLab holds less than the kept tail's start: that part is lost, the state is still reported", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    const { report, id, log } = setUp(fake, dir, {
      held: "he",
      trace: "hello world\n",
      start: 3,
      retryLimit: 2,
    });
    expect(await reportFinalState(report)).toBe("accepted");
    expect(fake.traceText(id)).toBe("he");
    expect(fake.job(id).final?.state).toBe("success");
    expect(log()).toContain("the coordinator holds less of the trace than drover kept");
  });

  test("an abort stops the report at once", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    const { report } = setUp(fake, dir, { held: "done\n", trace: "done\n", start: 5, retryLimit: 10 });
    fake.refuseFinalUpdates(500);
    const stop = new AbortController();
    const reporting = reportFinalState({ ...report, signal: stop.signal });
    await waitFor("a first try", () => fake.received.some((r) => r.method === "PUT"));
    stop.abort();
    expect(await reporting).toBe("interrupted");
  });
});
