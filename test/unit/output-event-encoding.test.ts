import { describe, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import {
  ConfigureEventSchema,
  ConfigureRequestSchema,
} from "../../kernel/gen/drover/plugin/v1/executor_pb.ts";
import { OutputStream, ResultKind, StageEventSchema } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import { LifecycleEventSchema } from "../../kernel/gen/drover/plugin/v1/lifecycle_pb.ts";
import { encodeOutputEvent, hasOutputEvent } from "../../kernel/protocol/output-event-encoding.ts";

describe("the output-event fast path", () => {
  test("applies to the three event types, and to nothing else", () => {
    expect(hasOutputEvent(StageEventSchema)).toBe(true);
    expect(hasOutputEvent(ConfigureEventSchema)).toBe(true);
    expect(hasOutputEvent(LifecycleEventSchema)).toBe(true);
    expect(hasOutputEvent(ConfigureRequestSchema)).toBe(false);
  });

  test("writes exactly what protobuf-es writes, for any stream and any bytes", () => {
    const streams = fc.constantFrom(
      OutputStream.UNSPECIFIED,
      OutputStream.STDOUT,
      OutputStream.STDERR,
      200, // an enum value from a newer peer: still a varint
      300_000,
    );
    const sizes = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 70_000 }));
    fc.assert(
      fc.property(streams, sizes, (stream, bytes) => {
        const data =
          typeof bytes === "number" ? Uint8Array.from({ length: bytes }, (_, i) => i % 251) : bytes;
        for (const schema of [StageEventSchema, ConfigureEventSchema, LifecycleEventSchema]) {
          const message = create(schema, { event: { case: "output", value: { stream, data } } });
          const fast = encodeOutputEvent(message);
          expect(fast).toBeDefined();
          expect(Buffer.compare(fast!, Buffer.from(toBinary(schema, message)))).toBe(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("leaves everything else to protobuf-es", () => {
    expect(
      encodeOutputEvent(
        create(StageEventSchema, { event: { case: "result", value: { kind: ResultKind.SUCCESS } } }),
      ),
    ).toBeUndefined();
    expect(encodeOutputEvent(create(StageEventSchema, {}))).toBeUndefined();
    const withUnknown = create(StageEventSchema, {
      event: { case: "output", value: { stream: OutputStream.STDOUT, data: new Uint8Array([1]) } },
    });
    withUnknown.$unknown = [{ no: 9, wireType: 0, data: new Uint8Array([1]) }];
    expect(encodeOutputEvent(withUnknown)).toBeUndefined();
    expect(
      encodeOutputEvent({ event: { case: "output", value: { stream: -1, data: new Uint8Array([1]) } } }),
    ).toBeUndefined();
  });
});
