/**
 * GitLab's `gzip` artifact format (for reports: `artifacts:reports:junit` and the like): every file
 * as its own gzip member, one after the other, each naming its file in the header's FNAME field
 * (gitlab-runner's archive/gziplegacy). GitLab reads the members back with their names.
 * Directories and links carry no content and are left out.
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import zlib from "node:zlib";
import type { FileList } from "./file-list.ts";

const crc32 = (zlib as unknown as { crc32(data: Uint8Array, value?: number): number }).crc32;

/** One gzip member: RFC 1952 header with FNAME and MTIME, raw deflate, CRC-32 and size trailer. */
export function gzipMember(name: string, content: Uint8Array, mtime: Date): Buffer {
  const header = Buffer.alloc(10);
  header[0] = 0x1f;
  header[1] = 0x8b;
  header[2] = 8; // deflate
  header[3] = 0x08; // FNAME
  header.writeUInt32LE(Math.max(0, Math.floor(mtime.getTime() / 1000)) >>> 0, 4);
  header[8] = 0;
  header[9] = 3; // Unix
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(content) >>> 0, 0);
  trailer.writeUInt32LE(content.length >>> 0, 4);
  // FNAME is ISO-8859-1 and NUL-terminated: a name cannot carry a NUL.
  const fname = Buffer.from(`${name.replaceAll("\0", "")}\0`, "latin1");
  return Buffer.concat([header, fname, zlib.deflateRawSync(content), trailer]);
}

/** Writes the members of every regular file of `list` to `file` (temp file, then rename). */
export function createGzipMembers(list: FileList, wd: string, file: string): { bytes: number } {
  const temp = `${file}.${process.pid}.tmp`;
  const fd = openSync(temp, "w", 0o600);
  let bytes = 0;
  try {
    for (const [path, stats] of list.entries) {
      if (!stats.isFile()) continue;
      const member = gzipMember(path, readFileSync(join(wd, path)), stats.mtime);
      writeSync(fd, member);
      bytes += member.length;
    }
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(temp, file);
  return { bytes };
}
