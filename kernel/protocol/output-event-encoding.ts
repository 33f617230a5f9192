/**
 * The hot path of the plugin protocol: a stage's output. StageEvent, ConfigureEvent and
 * LifecycleEvent all carry `oneof event { OutputChunk output = 1; ... }`, and a job printing
 * hundreds of MB/s sends little else. protobuf-es encodes the nested chunk into a buffer of its own
 * and then copies it into the outer one: two copies of every byte of output, plus a large
 * short-lived allocation for the collector, before grpc-js copies it once more into its frame. This
 * writes the same bytes in one pass, into one buffer of the exact size (scripts/bench f; the
 * equivalence with protobuf-es is a property test in test/unit/output-event-encoding.test.ts).
 *
 * Wire format (proto3: a field at its default value is not written; a oneof member always is):
 *   0x0a <len>                 field 1 (event.output), length-delimited
 *     0x08 <stream>            OutputChunk.stream, field 1, varint (omitted when 0)
 *     0x12 <len> <data>        OutputChunk.data, field 2, length-delimited (omitted when empty)
 */
import type { DescMessage } from "@bufbuild/protobuf";

interface OutputChunkValue {
  stream: number;
  data: Uint8Array;
  $unknown?: unknown[];
}

/** True for a message whose field 1 is `OutputChunk output` in the oneof `event` (the three event types). */
export function hasOutputEvent(schema: DescMessage): boolean {
  const field = schema.fields.find((f) => f.number === 1);
  return (
    field?.localName === "output" &&
    field.oneof?.localName === "event" &&
    field.fieldKind === "message" &&
    field.message.typeName === "drover.plugin.v1.OutputChunk"
  );
}

/**
 * The encoding of `message` when it is an output event this path can write (no unknown fields);
 * undefined otherwise, for the general encoder.
 */
export function encodeOutputEvent(message: unknown): Buffer | undefined {
  const event = (message as { event?: { case?: string; value?: OutputChunkValue } }).event;
  if (event?.case !== "output" || event.value === undefined) return undefined;
  const chunk = event.value;
  if ((message as { $unknown?: unknown[] }).$unknown?.length || chunk.$unknown?.length) return undefined;
  const { stream, data } = chunk;
  if (!Number.isInteger(stream) || stream < 0 || stream > 0x7fffffff) return undefined;
  const streamBytes = stream === 0 ? 0 : 1 + varintSize(stream);
  const dataBytes = data.length === 0 ? 0 : 1 + varintSize(data.length) + data.length;
  const inner = streamBytes + dataBytes;
  const out = Buffer.allocUnsafe(1 + varintSize(inner) + inner);
  let at = 0;
  out[at++] = 0x0a;
  at = writeVarint(out, at, inner);
  if (streamBytes) {
    out[at++] = 0x08;
    at = writeVarint(out, at, stream);
  }
  if (dataBytes) {
    out[at++] = 0x12;
    at = writeVarint(out, at, data.length);
    out.set(data, at);
  }
  return out;
}

/** Bytes of `n` (a non-negative 32-bit integer here: enum values and lengths) as a varint. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}
