/**
 * Where a job log's bytes go: stdout (`drover exec`) or memory (tests; the daemon's trace buffer,
 * read incrementally for GitLab's `PATCH /jobs/:id/trace`).
 */

import { writeSync } from "node:fs";

export interface JobLogSink {
  /** Takes the bytes now; may not keep `bytes` (the caller reuses its memory). */
  write(bytes: Uint8Array): void;
}

export interface FdSink extends JobLogSink {
  /** The reader went away (EPIPE, e.g. `drover exec ... | head`): later writes are dropped. */
  readonly closed: boolean;
}

/**
 * Writes to a file descriptor synchronously, fully, in order. Synchronous is what exec mode needs:
 * the job log is the program's output, the write is a memcpy into a pipe or tty, and a full pipe
 * slowing the job down is the back-pressure we want. A descriptor left non-blocking by whoever
 * gave it to us (EAGAIN) is waited on, 1 ms at a time, without spinning.
 */
export function fdSink(fd: number): FdSink {
  let closed = false;
  return {
    get closed() {
      return closed;
    },
    write(bytes: Uint8Array): void {
      let offset = 0;
      while (!closed && offset < bytes.length) {
        try {
          offset += writeSync(fd, bytes, offset, bytes.length - offset);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "EAGAIN") sleep(1);
          else if (code === "EPIPE") closed = true;
          else throw error;
        }
      }
    },
  };
}

/** The job log to stdout (fd 1). Nothing else may write to stdout meanwhile (no `console.log`). */
export function stdoutSink(): FdSink {
  return fdSink(1);
}

export interface MemorySink extends JobLogSink {
  /** Bytes written so far. */
  readonly size: number;
  /** The bytes from `from` on (a view: valid until the next write). */
  bytes(from?: number): Uint8Array;
  /** Everything as UTF-8 text (invalid bytes replaced). */
  text(): string;
}

/** Keeps everything in one growing buffer. */
export function memorySink(): MemorySink {
  let buffer = new Uint8Array(4096);
  let size = 0;
  return {
    get size() {
      return size;
    },
    write(bytes: Uint8Array): void {
      if (size + bytes.length > buffer.length) {
        const grown = new Uint8Array(Math.max(buffer.length * 2, size + bytes.length));
        grown.set(buffer.subarray(0, size));
        buffer = grown;
      }
      buffer.set(bytes, size);
      size += bytes.length;
    },
    bytes(from = 0): Uint8Array {
      return buffer.subarray(Math.min(from, size), size);
    },
    text(): string {
      return new TextDecoder().decode(buffer.subarray(0, size));
    },
  };
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

function sleep(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}
