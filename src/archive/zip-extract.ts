/**
 * Extracts a zip archive (an artifact a job depends on, a `cache.zip`, written by drover or by
 * gitlab-runner) into a directory, as GitLab Runner's extractor does (helpers/archives/
 * zip_extract.go): files, directories and symbolic links, with their Unix modes and times; an
 * existing file is replaced.
 *
 * The archive is not trusted: it comes from another job or another runner. An entry is refused
 * (with a warning, the rest goes on) when its name is absolute or leads outside the directory, or
 * when a directory on its way is a symbolic link (an archive that first makes `a -> /etc` and then
 * writes `a/passwd`). A file is created with O_EXCL after the old one is removed, never opened
 * through a link. Set-user-id and set-group-id bits are dropped. A symbolic link's target longer
 * than PATH_MAX is refused (it is read into memory).
 *
 * The sizes are checked to be what the archive says (yauzl's validateEntrySizes), but not capped,
 * as in GitLab: an archive comes from a job of the same project (its cache, its pipeline's
 * artifacts), which could fill the same disk from its own script; builds_dir's quota is the limit.
 */
import {
  constants,
  createWriteStream,
  lstatSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from "node:fs";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import yauzl from "yauzl";

export interface ExtractResult {
  files: number;
  /** Entries refused, each with why. */
  refused: string[];
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
/** Linux's PATH_MAX: no longer link target can be made, and a link's target is read into memory. */
const MAX_LINK_TARGET = 4096;

export async function extractZip(file: string, into: string): Promise<ExtractResult> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    // decodeStrings off: yauzl would refuse the whole archive at the first unsafe name, after the
    // entries before it were written; entryName decodes, entryProblem refuses entry by entry.
    yauzl.open(file, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true }, (err, zf) =>
      err ? reject(err) : resolve(zf),
    ),
  );
  const result: ExtractResult = { files: 0, refused: [] };
  try {
    for await (const entry of entries(zip)) {
      const name = entryName(entry);
      const problem = entryProblem(into, name);
      if (problem !== undefined) {
        result.refused.push(`${name}: ${problem}`);
        continue;
      }
      const target = join(into, name);
      const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
      const type = mode & S_IFMT;
      const isDirectory = type === S_IFDIR || name.endsWith("/");
      const permissions = mode & 0o1777 || (isDirectory ? 0o755 : 0o644);
      mkdirSync(dirname(target), { recursive: true });
      if (isDirectory) {
        mkdirSync(target, { recursive: true, mode: permissions });
        continue;
      }
      if (type === S_IFLNK && entry.uncompressedSize > MAX_LINK_TARGET) {
        result.refused.push(`${name}: a symbolic link whose target is ${entry.uncompressedSize} bytes long`);
        continue;
      }
      const stream = await openEntry(zip, entry);
      if (type === S_IFLNK) {
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        rmSync(target, { force: true, recursive: false });
        symlinkSync(Buffer.concat(chunks).toString(), target);
      } else {
        removeExisting(target);
        const fd = openSync(
          target,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          permissions,
        );
        const out = createWriteStream("", { fd });
        await pipeline(stream, out);
        const time = entry.getLastModDate();
        utimesSync(target, time, time);
      }
      result.files++;
    }
  } finally {
    zip.close();
  }
  return result;
}

/** The entry's name: UTF-8 when the archive says so (general purpose bit 11), else byte by byte. */
function entryName(entry: yauzl.Entry): string {
  const raw = entry.fileName as unknown as Buffer;
  return raw.toString((entry.generalPurposeBitFlag & 0x800) !== 0 ? "utf8" : "latin1");
}

/** Why an entry must not be extracted into `into`, or undefined. */
function entryProblem(into: string, name: string): string | undefined {
  if (name === "" || isAbsolute(name) || name.includes("\\") || name.includes("\0")) {
    return "not a relative path";
  }
  const clean = normalize(name);
  if (clean === ".." || clean.startsWith(`..${sep}`)) return "leads outside the directory";
  // Every directory on the way, as it is now on disk: a symbolic link there could lead anywhere.
  const parts = clean.split(sep).filter((p) => p !== "" && p !== ".");
  let path = into;
  for (const part of parts.slice(0, -1)) {
    path = join(path, part);
    let stats: ReturnType<typeof lstatSync>;
    try {
      stats = lstatSync(path);
    } catch {
      return undefined; // does not exist yet: it will be a real directory
    }
    if (stats.isSymbolicLink()) return `${path} is a symbolic link`;
    if (!stats.isDirectory()) return `${path} is not a directory`;
  }
  return undefined;
}

/** An existing file or link at `target` goes first (a directory there is an error, as in GitLab). */
function removeExisting(target: string): void {
  try {
    const stats = lstatSync(target);
    if (stats.isDirectory()) throw new Error(`${target} is a directory`);
    rmSync(target, { force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

async function* entries(zip: yauzl.ZipFile): AsyncGenerator<yauzl.Entry> {
  for (;;) {
    const entry = await new Promise<yauzl.Entry | undefined>((resolve, reject) => {
      const onEntry = (e: yauzl.Entry) => {
        cleanup();
        resolve(e);
      };
      const onEnd = () => {
        cleanup();
        resolve(undefined);
      };
      const onError = (err: Error) => {
        cleanup();
        reject(err);
      };
      const cleanup = () => {
        zip.off("entry", onEntry);
        zip.off("end", onEnd);
        zip.off("error", onError);
      };
      zip.on("entry", onEntry);
      zip.on("end", onEnd);
      zip.on("error", onError);
      zip.readEntry();
    });
    if (entry === undefined) return;
    yield entry;
  }
}

function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) =>
    zip.openReadStream(entry, (err, stream) => (err ? reject(err) : resolve(stream))),
  );
}
