/**
 * Real pipes (pipe(2)) for a child's stdout and stderr. Node's and Bun's `stdio: "pipe"` give the
 * child a socket (socketpair), and a socket is not what a shell script expects: `echo x >
 * /dev/stderr` fails with "No such device or address" (opening /proc/self/fd/2 of a socket is not
 * possible), which stops a `set -e` script. GitLab Runner's children get pipes (Go's os.Pipe); so
 * do drover's, on drover's runtime, through pipe2(2) from the C library (bun:ffi).
 *
 * Elsewhere (the SDK under Node, a C library that cannot be opened) `osPipe` returns undefined and
 * the caller falls back to `stdio: "pipe"`.
 *
 * The read end is read through the runtime's event loop (`pipeReader`), not `fs.createReadStream`:
 * that reads with blocking calls on a small thread pool, and four pipes nobody writes to (two
 * long-lived plugins) would stall every other read of the process.
 */
import { closeSync } from "node:fs";
import { createRequire } from "node:module";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

/** The part of bun:ffi used here (typed locally: the SDK's declarations build knows Node only). */
interface BunFfi {
  dlopen(
    path: string,
    symbols: { pipe2: { args: number[]; returns: number } },
  ): { symbols: { pipe2(fds: unknown, flags: number): number } };
  ptr(view: ArrayBufferView): unknown;
  FFIType: { ptr: number; i32: number };
}

const O_CLOEXEC = 0o2000000;
const LIBC_NAMES = ["libc.so.6", "libc.so", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];

type Pipe2 = (fds: Int32Array) => number;
let pipe2: Pipe2 | null | undefined;

function loadPipe2(): Pipe2 | null {
  if (!(process.versions as Record<string, string | undefined>).bun || process.platform !== "linux")
    return null;
  let ffi: BunFfi;
  try {
    ffi = createRequire(import.meta.url)("bun:ffi") as BunFfi;
  } catch {
    return null;
  }
  for (const name of LIBC_NAMES) {
    try {
      const { i32 } = ffi.FFIType;
      // The default 64 KiB buffer, as GitLab Runner's pipes: a larger one counts against the
      // user's pipe budget (pipe-user-pages-soft), and past it every new pipe of the user, the
      // jobs' own `a | b` included, gets 8 KiB.
      const lib = ffi.dlopen(name, { pipe2: { args: [ffi.FFIType.ptr, i32], returns: i32 } });
      return (fds) => lib.symbols.pipe2(ffi.ptr(fds), O_CLOEXEC);
    } catch {
      // not this name: try the next
    }
  }
  return null;
}

/**
 * A new pipe as [read end, write end], both close-on-exec (the child gets its own copy of the
 * write end as fd 1 or 2 through spawn's `stdio`); undefined where real pipes are not available.
 */
export function osPipe(): [read: number, write: number] | undefined {
  if (pipe2 === undefined) pipe2 = loadPipe2();
  if (pipe2 === null) return undefined;
  const fds = new Int32Array(2);
  if (pipe2(fds) !== 0) return undefined; // EMFILE and the like: the caller falls back to a socket
  return [fds[0]!, fds[1]!];
}

/** The runtime's own file reader (Bun.file(fd).stream()), typed here for the same reason as BunFfi. */
interface BunFiles {
  file(fd: number): { stream(): WebReadableStream<Uint8Array> };
}

/**
 * The read end of an `osPipe` as a Node stream, read without blocking a thread, with back-pressure.
 * The file descriptor is closed when the stream closes (its end, or `destroy()`).
 */
export function pipeReader(fd: number): Readable {
  const bun = (globalThis as { Bun?: BunFiles }).Bun;
  if (bun === undefined)
    throw new Error("pipeReader needs drover's runtime (osPipe returned a pipe without it)");
  const stream = Readable.fromWeb(bun.file(fd).stream());
  stream.once("close", () => {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  });
  return stream;
}
