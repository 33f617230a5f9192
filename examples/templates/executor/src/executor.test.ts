/**
 * `drover plugin test` runs this (node:test's API, on drover's runtime). The handlers are plain
 * functions: call them with the requests drover would send and look at what they yield.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CleanupRequestSchema,
  ConfigureRequestSchema,
  create,
  ResultKind,
  RunRequestSchema,
} from "@drover/plugin-sdk";
import { myExecutor } from "./executor.ts";

const ctx = { signal: new AbortController().signal, method: "test" };

async function all<T>(events: AsyncIterable<T>): Promise<T[]> {
  const seen: T[] = [];
  for await (const event of events) seen.push(event);
  return seen;
}

test("a stage's script runs with bash: its output comes back, then how it ended", async () => {
  const plugin = myExecutor();
  await all(plugin.handlers.configure(create(ConfigureRequestSchema, { job: { jobId: "7" } }), ctx));
  const events = await all(
    plugin.handlers.run(
      create(RunRequestSchema, {
        jobId: "7",
        stage: "build_script",
        script: 'echo "hello $WHO"\nexit 3\n',
        env: { WHO: "drover" },
      }),
      ctx,
    ),
  );
  const printed = events
    .map(({ event }) => (event?.case === "output" ? new TextDecoder().decode(event.value.data) : ""))
    .join("");
  assert.equal(printed, "hello drover\n");
  assert.deepEqual(events.at(-1)?.event, {
    case: "result",
    value: { kind: ResultKind.BUILD_FAILURE, exitCode: 3, message: "exit status 3" },
  });
  await all(plugin.handlers.cleanup(create(CleanupRequestSchema, { jobId: "7" }), ctx));
});
