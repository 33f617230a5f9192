/**
 * Unpacks a gzipped tar archive (an npm package, a plugin released as `plugin.tar.gz`) into an empty
 * directory, strictly: an install takes a plugin whole or not at all, so anything this reader does
 * not expect refuses the archive, naming the entry, instead of skipping it.
 *
 * What it reads: POSIX ustar and GNU headers, with pax extended headers (`path`, `size`) and GNU
 * long names, as npm (node-tar), GNU tar and bsdtar write them. Regular files and directories only:
 * a symbolic or hard link, a device or a FIFO refuses the archive. A name that is absolute or leads
 * outside the directory (`..`) refuses it. Modes keep the owner's execute bit and nothing special
 * (no set-user-id, no group or world write). Every header's checksum is checked.
 *
 * The archive is in memory (it was downloaded, size-capped, and its digest checked first); what
 * it unpacks to is capped too (MAX_UNPACKED_BYTES, MAX_ENTRIES): a small archive of zeros must not
 * fill the disk.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, normalize, sep } from "node:path";
import { gunzipSync } from "node:zlib";

export const MAX_UNPACKED_BYTES = 1024 * 1024 * 1024;
export const MAX_ENTRIES = 20_000;

const BLOCK = 512;

export class TarError extends Error {}

/** Unpacks `gzipped` into `dest` (created if missing); returns the files written, relative to it. */
export function extractTarGz(gzipped: Uint8Array, dest: string): string[] {
  let tar: Buffer;
  try {
    tar = gunzipSync(gzipped, { maxOutputLength: MAX_UNPACKED_BYTES });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TarError(
      code === "ERR_BUFFER_TOO_LARGE"
        ? `it unpacks to more than ${MAX_UNPACKED_BYTES / 2 ** 20} MiB`
        : `it is not a gzip file (${(err as Error).message})`,
    );
  }
  mkdirSync(dest, { recursive: true, mode: 0o755 });
  const written: string[] = [];
  let longName: string | undefined;
  let pax: Record<string, string> = {};
  let entries = 0;
  for (let offset = 0; offset + BLOCK <= tar.length; ) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break; // the end-of-archive blocks
    if (++entries > MAX_ENTRIES) throw new TarError(`it has more than ${MAX_ENTRIES} entries`);
    checkChecksum(header, offset);
    const type = String.fromCharCode(header[156] ?? 0);
    const size = pax.size !== undefined ? Number(pax.size) : octal(header.subarray(124, 136), "size", offset);
    if (!Number.isSafeInteger(size) || size < 0)
      throw new TarError(`the entry at byte ${offset} has a bad size`);
    const dataStart = offset + BLOCK;
    const data = tar.subarray(dataStart, dataStart + size);
    if (data.length < size) throw new TarError(`it ends inside the entry at byte ${offset}`);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (type === "x") {
      pax = { ...pax, ...parsePax(data, dataStart) };
      continue;
    }
    if (type === "g") continue; // global pax header: nothing in it matters here
    if (type === "L") {
      longName = cString(data);
      continue;
    }
    const name = pax.path ?? longName ?? headerName(header);
    pax = {};
    longName = undefined;
    const relative = safeName(name);
    if (relative === undefined) continue; // "." or "./": the archive's root
    const target = join(dest, relative);
    try {
      if (type === "5") {
        mkdirSync(target, { recursive: true, mode: 0o755 });
      } else if (type === "0" || type === "\0" || type === "7") {
        mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
        const mode = octal(header.subarray(100, 108), "mode", offset) & 0o100 ? 0o755 : 0o644;
        writeFileSync(target, data, { mode, flag: "wx" });
        written.push(relative);
      } else {
        throw new TarError(
          `${JSON.stringify(name)} is ${describeType(type)}; only files and directories are accepted`,
        );
      }
    } catch (err) {
      if (err instanceof TarError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      const twice = code === "EEXIST" && existsSync(target);
      const throughFile = (code === "EEXIST" || code === "ENOTDIR") && !twice;
      throw new TarError(
        twice
          ? `${JSON.stringify(name)} is in it twice`
          : throughFile
            ? `${JSON.stringify(name)} cannot be unpacked: a name on its way is a file`
            : `${JSON.stringify(name)} cannot be unpacked (${code ?? (err as Error).message})`,
      );
    }
  }
  return written;
}

/** A name inside the archive as a relative path; undefined for the root itself. */
function safeName(name: string): string | undefined {
  if (name.startsWith("/")) throw new TarError(`${JSON.stringify(name)} is an absolute path`);
  const normal = normalize(name).replace(/\/+$/, "");
  if (normal === "." || normal === "") return undefined;
  if (normal === ".." || normal.startsWith(`..${sep}`))
    throw new TarError(`${JSON.stringify(name)} leads outside the directory`);
  return normal;
}

function headerName(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  const magic = header.subarray(257, 263).toString("latin1");
  const prefix = magic === "ustar\0" ? cString(header.subarray(345, 500)) : "";
  return prefix ? `${prefix}/${name}` : name;
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString("utf8");
}

/** A numeric header field: octal text, or GNU's base-256 (high bit set) for large values. */
function octal(field: Buffer, what: string, offset: number): number {
  if ((field[0] ?? 0) & 0x80) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const text = cString(field).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`the entry at byte ${offset} has a bad ${what} field`);
  return Number.parseInt(text, 8);
}

function checkChecksum(header: Buffer, offset: number): void {
  const stored = octal(header.subarray(148, 156), "checksum", offset);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
  if (sum !== stored)
    throw new TarError(
      `the header at byte ${offset} has a wrong checksum: not a tar archive, or a damaged one`,
    );
}

/** pax records: `LENGTH key=value\n`. */
function parsePax(data: Buffer, offset: number): Record<string, string> {
  const records: Record<string, string> = {};
  for (let at = 0; at < data.length; ) {
    const space = data.indexOf(0x20, at);
    const length = Number(data.subarray(at, space).toString("latin1"));
    if (space === -1 || !Number.isSafeInteger(length) || length <= 0 || at + length > data.length)
      throw new TarError(`the pax header at byte ${offset} is malformed`);
    const record = data.subarray(space + 1, at + length - 1).toString("utf8");
    const equals = record.indexOf("=");
    if (equals > 0) records[record.slice(0, equals)] = record.slice(equals + 1);
    at += length;
  }
  return records;
}

function describeType(type: string): string {
  switch (type) {
    case "1":
      return "a hard link";
    case "2":
      return "a symbolic link";
    case "3":
    case "4":
      return "a device";
    case "6":
      return "a FIFO";
    default:
      return `an entry of type ${JSON.stringify(type)}`;
  }
}
