/**
 * Writes a zip archive of a file list, as GitLab Runner's helper writes artifacts and `cache.zip`
 * (helpers/archives/zip_create.go): one entry per file, directory and symbolic link, in order; the
 * Unix mode in the external attributes; a link's target as its content; files deflated, links and
 * directories stored; zip64 where sizes or offsets need it (yazl does that by itself). gitlab-runner,
 * Info-ZIP's `unzip` and drover's own extractor (zip-extract.ts) read it.
 *
 * Written to a temp file beside `file` and renamed into place, so a reader never meets half an
 * archive (a cache restored by a concurrent job, an upload retried); the temp file is removed when
 * the archive fails, and `onTemporary` lets the caller remove it when it is stopped by a signal.
 */
import { createReadStream, createWriteStream, readlinkSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import yazl from "yazl";
import type { FileList } from "./file-list.ts";

export async function createZip(
  list: FileList,
  wd: string,
  file: string,
  options: { onTemporary?: (path: string) => () => void } = {},
): Promise<{ bytes: number }> {
  const zip = new yazl.ZipFile();
  const output = zip.outputStream as Readable;
  // A file that cannot be read (its mode, or gone since it was listed) fails the archive, naming
  // it, as in GitLab; the temporary file is then removed.
  const fail = (path: string, err: Error) =>
    output.destroy(new Error(`${path}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
  zip.on("error", (err: Error) => output.destroy(err));
  for (const [path, stats] of list.entries) {
    const entry = { mtime: stats.mtime, mode: stats.mode };
    if (stats.isSymbolicLink()) {
      zip.addBuffer(Buffer.from(readlinkSync(join(wd, path))), path, { ...entry, compress: false });
    } else if (stats.isDirectory()) {
      zip.addEmptyDirectory(path, entry);
    } else if (stats.isFile()) {
      // Read when the archive gets there: a large tree is never held in memory.
      zip.addReadStreamLazy(path, entry, (callback) => {
        const stream = createReadStream(join(wd, path));
        stream.on("error", (err) => fail(path, err));
        callback(null, stream);
      });
    }
    // Sockets, FIFOs, devices: not archivable, as in GitLab.
  }
  zip.end();
  const temp = `${file}.${process.pid}.tmp`;
  const forget = options.onTemporary?.(temp);
  try {
    await pipeline(output, createWriteStream(temp, { mode: 0o600 }));
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  } finally {
    forget?.();
  }
  return { bytes: Bun.file(file).size };
}
