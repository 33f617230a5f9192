/**
 * Final job states the coordinator has not acknowledged, kept on disk so that a later drover
 * reports them (docs/daemon.md, "When the coordinator misbehaves"): one file per job,
 * `<state dir>/pending-final-updates/job-<id>-<coordinator>.json` (state-dir.ts), 0600 in a 0700
 * directory, written whole (a temporary file, fsync, rename), so a crash never leaves half a file.
 * A job's file is written before its first report and removed once GitLab acknowledges it or says
 * the job is over; what remains after that is what a later drover still has to report.
 *
 * Such a file holds a job token and says where to send it: one drover did not write is not
 * trusted blindly. Before it is read it must be a regular file (not a symbolic link) owned by
 * drover's user, with no permission for anyone else (0600); then every field is checked, and its
 * name must match its contents. A file that fails is reported by name, with what is wrong and what
 * to do, and left where it is for the administrator.
 */
import { createHash } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { lstat, mkdir, open, readdir, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { FinalStateJournal, UnreportedFinalState } from "../coordinator/unreported-final-state.ts";
import type { Logger } from "../log/logger.ts";

/** The `format` of every file: a file without it is not one of ours. */
export const PENDING_FORMAT = "drover-pending-final-update/1";

const FILE_NAME = /^job-\d+-[0-9a-f]{12}\.json$/;

/** A kept file as read back: usable, or why not. */
export type KeptEntry =
  | { ok: true; file: string; state: UnreportedFinalState }
  | { ok: false; file: string; problem: string };

export class PendingUpdates implements FinalStateJournal {
  readonly dir: string;
  readonly #logger: Logger;
  /** Files this process is reporting now: a reload's redelivery leaves them alone. */
  readonly #claimed = new Set<string>();
  /** Files known to be on disk (the metric): kept by this process or found there. */
  readonly #known = new Set<string>();
  #keepFailed = false;

  /** `stateDir`: drover's state directory (state-dir.ts); the files go in a folder of their own. */
  constructor(stateDir: string, logger: Logger) {
    this.dir = join(stateDir, "pending-final-updates");
    this.#logger = logger;
  }

  /** Final states on disk not acknowledged yet, as far as this process knows. */
  get count(): number {
    return this.#known.size;
  }

  /** The file for a job: named by job id and a hash of the coordinator's URL (two GitLabs may share ids). */
  fileFor(state: Pick<UnreportedFinalState, "url" | "jobId">): string {
    const coordinator = createHash("sha256").update(state.url).digest("hex").slice(0, 12);
    return join(this.dir, `job-${state.jobId}-${coordinator}.json`);
  }

  async keep(state: UnreportedFinalState): Promise<string | undefined> {
    const file = this.fileFor(state);
    const temporary = join(
      this.dir,
      `.${Date.now()}-${process.pid}-${Math.random().toString(36).slice(2)}.tmp`,
    );
    try {
      await this.#ensureDir();
      const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        await handle.chmod(0o600); // whatever the umask
        await handle.writeFile(encodeKept(state));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, file);
    } catch (err) {
      // A half-written file (a full disk) is not left behind to fill it further.
      await unlink(temporary).catch(() => {});
      // Once at warn (a read-only home, a folder with the wrong owner), then at debug: every job
      // would say the same.
      this.#logger[this.#keepFailed ? "debug" : "warn"](
        { err, file, jobId: state.jobId },
        "cannot keep the job's final state on disk: if it is not reported now, it is lost",
      );
      this.#keepFailed = true;
      return undefined;
    }
    this.#claimed.add(file);
    this.#known.add(file);
    return file;
  }

  async forget(state: UnreportedFinalState): Promise<void> {
    const file = this.fileFor(state);
    this.#claimed.delete(file);
    this.#known.delete(file);
    try {
      await unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        this.#logger.warn(
          { err, file },
          "cannot remove a reported final state: a later drover reports it again",
        );
    }
  }

  release(state: UnreportedFinalState): void {
    this.#claimed.delete(this.fileFor(state));
  }

  /**
   * Every kept file that this process is not reporting already, read and checked. Usable ones are
   * claimed: the caller reports each and then forgets or releases it. None when the directory does
   * not exist (nothing was ever kept).
   */
  async takeUnclaimed(): Promise<KeptEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      return [{ ok: false, file: this.dir, problem: `cannot be read: ${(err as Error).message}` }];
    }
    const problem = trustProblem(await lstat(this.dir), currentUid(), "directory");
    if (problem !== undefined) return [{ ok: false, file: this.dir, problem }];
    const entries: KeptEntry[] = [];
    for (const name of names.filter((n) => FILE_NAME.test(n)).sort()) {
      const file = join(this.dir, name);
      if (this.#claimed.has(file)) continue;
      const entry = await this.#read(file);
      this.#known.add(file);
      if (entry.ok) this.#claimed.add(file);
      entries.push(entry);
    }
    return entries;
  }

  async #read(file: string): Promise<KeptEntry> {
    let text: string;
    try {
      // O_NOFOLLOW: a symbolic link planted here is refused, not followed.
      const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const problem = trustProblem(await handle.stat(), currentUid(), "file");
        if (problem !== undefined) return { ok: false, file, problem };
        text = await handle.readFile("utf8");
      } finally {
        await handle.close();
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const problem = code === "ELOOP" ? "is a symbolic link" : `cannot be read: ${(err as Error).message}`;
      return { ok: false, file, problem };
    }
    const state = decodeKept(text);
    if (typeof state === "string") return { ok: false, file, problem: state };
    if (this.fileFor(state) !== file)
      return { ok: false, file, problem: "its name does not match the job and coordinator it holds" };
    return { ok: true, file, state };
  }

  /** The directory, created 0700; one that others may write to is refused (they could swap files). */
  async #ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const problem = trustProblem(await lstat(this.dir), currentUid(), "directory");
    if (problem !== undefined) throw new Error(`${this.dir} ${problem}`);
  }
}

function currentUid(): number {
  return process.getuid?.() ?? 0;
}

/**
 * Why a kept file (or its directory) is not trusted: undefined when it is a regular file (a
 * directory) owned by `uid` that nobody else may read or write.
 */
export function trustProblem(
  stat: Pick<Stats, "isFile" | "isDirectory" | "uid" | "mode">,
  uid: number,
  kind: "file" | "directory",
): string | undefined {
  if (kind === "file" ? !stat.isFile() : !stat.isDirectory())
    return `is not a ${kind === "file" ? "regular file" : "directory"}`;
  if (stat.uid !== uid) return `is owned by uid ${stat.uid}, not by drover's user (uid ${uid})`;
  const others = stat.mode & 0o077;
  if (others !== 0)
    return `has mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}: others than drover's user may use it (expected ${kind === "file" ? "0600" : "0700"})`;
  return undefined;
}

/** What to do about a kept file that was not trusted or not readable (for the log). */
export const KEPT_FILE_ADVICE =
  "if drover wrote it, give it back to drover's user with mode 0600 (chown, chmod 600); otherwise remove it";

// ---- the file's format ---------------------------------------------------------------------------

interface KeptFile {
  format: typeof PENDING_FORMAT;
  url: string;
  job_id: number;
  job_token: string;
  state: "success" | "failed";
  failure_reason?: string;
  exit_code?: number;
  output: { checksum: string; bytesize: number };
  trace: { offset: number; base64: string };
  kept_at: string;
}

export function encodeKept(state: UnreportedFinalState): string {
  const { update } = state;
  const kept: KeptFile = {
    format: PENDING_FORMAT,
    url: state.url,
    job_id: state.jobId,
    job_token: state.jobToken,
    state: update.state,
    ...(update.failureReason === undefined ? {} : { failure_reason: update.failureReason }),
    ...(update.exitCode === undefined ? {} : { exit_code: update.exitCode }),
    output: update.output,
    trace: { offset: state.trace.start, base64: Buffer.from(state.trace.bytes).toString("base64") },
    kept_at: new Date().toISOString(),
  };
  return `${JSON.stringify(kept, null, 2)}\n`;
}

/** A kept file's text → the state, or what is wrong with it (one sentence naming the field). */
export function decodeKept(text: string): UnreportedFinalState | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `is not valid JSON (${(err as Error).message}): it was damaged, or drover did not write it`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "is not a JSON object";
  const kept = value as Record<string, unknown>;
  if (kept.format !== PENDING_FORMAT)
    return `is not a drover pending final update (format: expected ${JSON.stringify(PENDING_FORMAT)}, got ${shown(kept.format)})`;
  const wrong = (field: string, expected: string, got: unknown) =>
    `${field}: expected ${expected}, got ${shown(got)}`;
  const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  const { url, job_id, job_token, state, failure_reason, exit_code } = kept;
  if (typeof url !== "string" || !/^https?:$/.test(URL.canParse(url) ? new URL(url).protocol : ""))
    return wrong("url", "an http(s) URL", url);
  if (!isCount(job_id)) return wrong("job_id", "a non-negative integer", job_id);
  if (typeof job_token !== "string" || job_token === "")
    return wrong("job_token", "a non-empty string", job_token);
  if (state !== "success" && state !== "failed") return wrong("state", '"success" or "failed"', state);
  if (failure_reason !== undefined && typeof failure_reason !== "string")
    return wrong("failure_reason", "a string", failure_reason);
  if (exit_code !== undefined && !(typeof exit_code === "number" && Number.isSafeInteger(exit_code)))
    return wrong("exit_code", "an integer", exit_code);
  const output = kept.output as Record<string, unknown> | undefined;
  if (typeof output?.checksum !== "string" || !/^crc32:[0-9a-f]{8}$/.test(output.checksum))
    return wrong("output.checksum", '"crc32:" and 8 hex digits', output?.checksum);
  if (!isCount(output.bytesize)) return wrong("output.bytesize", "a non-negative integer", output.bytesize);
  const trace = kept.trace as Record<string, unknown> | undefined;
  if (!isCount(trace?.offset)) return wrong("trace.offset", "a non-negative integer", trace?.offset);
  if (typeof trace.base64 !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(trace.base64))
    return typeof trace.base64 === "string"
      ? "trace.base64: expected base64 text"
      : wrong("trace.base64", "base64 text", trace.base64);
  const bytes = new Uint8Array(Buffer.from(trace.base64, "base64"));
  if (trace.offset + bytes.length !== output.bytesize)
    return `trace: ${bytes.length} bytes from offset ${trace.offset} do not end at output.bytesize ${output.bytesize}`;
  return {
    url,
    jobId: job_id,
    jobToken: job_token,
    update: {
      state,
      ...(failure_reason === undefined ? {} : { failureReason: failure_reason }),
      ...(exit_code === undefined ? {} : { exitCode: exit_code }),
      output: { checksum: output.checksum, bytesize: output.bytesize },
    },
    trace: { start: trace.offset, bytes },
  };
}

/** A value for a message: JSON, cut short; never a whole token or trace. */
function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
