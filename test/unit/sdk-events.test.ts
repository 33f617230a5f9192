/** The SDK's event constructors (plugins/sdk/events.ts) make valid LifecycleEvent messages. */
import { describe, expect, test } from "bun:test";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AnnotationLevel,
  addPath,
  annotation,
  create,
  LifecycleEventSchema,
  mask,
  output,
  ResultKind,
  result,
  setEnv,
  stepSummary,
} from "@drover/plugin-sdk";

/** Through the wire and back, as drover receives it. */
const roundTrip = (init: Parameters<typeof create<typeof LifecycleEventSchema>>[1]) =>
  fromBinary(LifecycleEventSchema, toBinary(LifecycleEventSchema, create(LifecycleEventSchema, init))).event;

describe("SDK lifecycle events", () => {
  test("mask, setEnv, addPath, stepSummary", () => {
    expect(roundTrip(mask("s3cr3t"))).toEqual({ case: "mask", value: "s3cr3t" });
    expect(roundTrip(setEnv("GREETING", "hi"))).toMatchObject({
      case: "setEnv",
      value: { name: "GREETING", value: "hi" },
    });
    expect(roundTrip(addPath("/opt/tool/bin"))).toEqual({ case: "addPath", value: "/opt/tool/bin" });
    expect(roundTrip(stepSummary("# done"))).toEqual({ case: "stepSummary", value: "# done" });
  });

  test("an annotation with its place; without one, the place is empty", () => {
    expect(roundTrip(annotation("warning", "slow test", { file: "a.ts", line: 3, column: 7 }))).toMatchObject(
      {
        case: "annotation",
        value: {
          level: AnnotationLevel.WARNING,
          message: "slow test",
          file: "a.ts",
          line: 3,
          column: 7,
          endLine: 0,
        },
      },
    );
    expect(roundTrip(annotation("error", "broken"))).toMatchObject({
      case: "annotation",
      value: { level: AnnotationLevel.ERROR, message: "broken", file: "", line: 0 },
    });
  });

  test("output and result fit lifecycle streams too", () => {
    expect(roundTrip(output("stderr", "x"))).toMatchObject({ case: "output" });
    expect(roundTrip(result(ResultKind.BUILD_FAILURE, 3, "exit status 3"))).toMatchObject({
      case: "result",
      value: { kind: ResultKind.BUILD_FAILURE, exitCode: 3, message: "exit status 3" },
    });
  });
});
