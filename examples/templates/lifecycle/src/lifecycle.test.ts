/**
 * `drover plugin test` runs this (node:test's API, on drover's runtime). The handlers are plain
 * functions: call them with the requests drover would send and look at what they yield.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, JobCompletedRequestSchema, JobStartedRequestSchema, ResultKind } from "@drover/plugin-sdk";
import { myLifecycle } from "./lifecycle.ts";

const ctx = { signal: new AbortController().signal, method: "test" };

async function all<T>(events: AsyncIterable<T>): Promise<T[]> {
  const seen: T[] = [];
  for await (const event of events) seen.push(event);
  return seen;
}

test("a job start: a line in the job log, a variable for the job, then success", async () => {
  const plugin = myLifecycle();
  const job = { jobId: "7", jobName: "build", runnerName: "local" };
  const events = await all(plugin.handlers.jobStarted(create(JobStartedRequestSchema, { job }), ctx));
  assert.deepEqual(
    events.map(({ event }) => event?.case),
    ["output", "setEnv", "result"],
  );
  assert.deepEqual(events[1]?.event, { case: "setEnv", value: { name: "MY_LIFECYCLE_SEEN", value: "1" } });
  assert.deepEqual(events.at(-1)?.event, {
    case: "result",
    value: { kind: ResultKind.SUCCESS, exitCode: 0, message: "" },
  });
  const ended = await all(
    plugin.handlers.jobCompleted(
      create(JobCompletedRequestSchema, { job, outcome: { status: "success" } }),
      ctx,
    ),
  );
  assert.equal(ended.length, 2);
});
