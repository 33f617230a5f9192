/**
 * Merges a process's stdout and stderr into one ordered stream of chunks, with back-pressure: when
 * the consumer (the gRPC stream to drover) is slow, the pipes are paused, so memory does not grow
 * with the amount of output. Chunks that queued up meanwhile go out together (consecutive ones of
 * the same stream, up to COALESCE_BYTES): a slow consumer gets fewer, larger messages, a fast one
 * each chunk as it comes.
 */
import type { Readable } from "node:stream";

export interface TaggedChunk {
  stream: "stdout" | "stderr";
  data: Uint8Array;
}

/** Chunks buffered before both pipes are paused. */
const HIGH_WATER_CHUNKS = 16;
/** The most bytes one merged chunk takes from the queue. */
const COALESCE_BYTES = 256 * 1024;

export async function* mergeOutput(stdout: Readable, stderr: Readable): AsyncGenerator<TaggedChunk> {
  const queue: TaggedChunk[] = [];
  let open = 2;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const attach = (stream: Readable, name: "stdout" | "stderr") => {
    stream.on("data", (data: Uint8Array) => {
      queue.push({ stream: name, data });
      if (queue.length >= HIGH_WATER_CHUNKS) {
        stdout.pause();
        stderr.pause();
      }
      notify();
    });
    // 'close' comes after 'end', and also when a stream is destroyed without ending (a process
    // that could not start): counting 'close' means the merge always finishes.
    stream.once("error", (err) => {
      failure ??= err;
    });
    stream.once("close", () => {
      open--;
      notify();
    });
  };
  attach(stdout, "stdout");
  attach(stderr, "stderr");
  try {
    for (;;) {
      let next = queue.shift();
      if (next && queue[0]?.stream === next.stream && next.data.length < COALESCE_BYTES) {
        const parts = [next.data];
        let size = next.data.length;
        while (queue[0]?.stream === next.stream && size + queue[0].data.length <= COALESCE_BYTES) {
          const part = queue.shift()!.data;
          parts.push(part);
          size += part.length;
        }
        if (parts.length > 1) next = { stream: next.stream, data: Buffer.concat(parts, size) };
      }
      if (next) {
        if (queue.length < HIGH_WATER_CHUNKS / 2) {
          stdout.resume();
          stderr.resume();
        }
        yield next;
        continue;
      }
      if (open <= 0) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
    if (failure) throw failure;
  } finally {
    stdout.destroy();
    stderr.destroy();
  }
}
