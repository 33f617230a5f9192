/**
 * Final job states kept on disk until GitLab acknowledges them (src/daemon/pending-updates.ts): what
 * is written, how a later process reads it back, and every file that is not trusted: damaged,
 * foreign, readable by others, owned by someone else, a symbolic link, misnamed.
 */
import { describe, expect, test } from "bun:test";
import {
  chmodSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { UnreportedFinalState } from "../../src/coordinator/unreported-final-state.ts";
import {
  decodeKept,
  encodeKept,
  PENDING_FORMAT,
  PendingUpdates,
  trustProblem,
} from "../../src/daemon/pending-updates.ts";
import { stateDir } from "../../src/daemon/state-dir.ts";
import { createLogger } from "../../src/log/logger.ts";
import { type TempDir, tempDir } from "../harness.ts";

function state(overrides: Partial<UnreportedFinalState> = {}): UnreportedFinalState {
  const bytes = new TextEncoder().encode("the end\nJob succeeded\n");
  return {
    url: "https://gitlab.example.com",
    jobId: 42,
    jobToken: "glcbt-secret-job-token",
    update: {
      state: "failed",
      failureReason: "script_failure",
      exitCode: 3,
      output: { checksum: "crc32:0badf00d", bytesize: 100 + bytes.length },
    },
    trace: { start: 100, bytes },
    ...overrides,
  };
}

/** A store in `dir` whose log goes to a file the test reads. */
function store(dir: TempDir): { pending: PendingUpdates; log: () => string } {
  const logFile = join(dir.path, "drover.log");
  const fd = openSync(logFile, "a");
  const logger = createLogger({ level: "info", pretty: false, destinationFd: fd });
  const pending = new PendingUpdates(join(dir.path, "state"), logger);
  return {
    pending,
    log: () => readFileSync(logFile, "utf8"),
  };
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

describe("PendingUpdates", () => {
  test("keeps a state 0600 in a 0700 folder; a later process reads it back whole; forget removes it", async () => {
    using dir = tempDir();
    const { pending } = store(dir);
    const kept = state();
    const file = await pending.keep(kept);
    expect(file).toBe(pending.fileFor(kept));
    expect(file).toMatch(/pending-final-updates\/job-42-[0-9a-f]{12}\.json$/);
    expect(mode(file!)).toBe(0o600);
    expect(mode(pending.dir)).toBe(0o700);
    expect(pending.count).toBe(1);
    // No temporary file left behind.
    expect(readdirSync(pending.dir)).toEqual([file!.split("/").at(-1)!]);

    // This process is reporting it: a reload's pass leaves it alone until it is released.
    expect(await pending.takeUnclaimed()).toEqual([]);
    pending.release(kept);
    expect(await pending.takeUnclaimed()).toEqual([{ ok: true, file: file!, state: kept }]);

    // A new process (a restarted drover) finds it too.
    const later = store(dir).pending;
    expect(await later.takeUnclaimed()).toEqual([{ ok: true, file: file!, state: kept }]);
    expect(later.count).toBe(1);
    await later.forget(kept);
    expect(readdirSync(pending.dir)).toEqual([]);
    expect(later.count).toBe(0);
    // Forgetting twice is harmless (two drovers reported the same state).
    await pending.forget(kept);
  });

  test("a state that cannot be written in full leaves no temporary file behind", async () => {
    using dir = tempDir();
    const { pending, log } = store(dir);
    // The rename fails (a directory is in the way), after the temporary file was written.
    mkdirSync(pending.fileFor(state()), { recursive: true, mode: 0o700 });
    chmodSync(pending.dir, 0o700);
    expect(await pending.keep(state())).toBeUndefined();
    expect(readdirSync(pending.dir)).toEqual([pending.fileFor(state()).split("/").at(-1)!]);
    expect(log()).toContain("cannot keep the job's final state on disk");
  });

  test("nothing kept yet: no folder, no entries", async () => {
    using dir = tempDir();
    expect(await store(dir).pending.takeUnclaimed()).toEqual([]);
  });

  test("two coordinators' jobs with the same id are two files", () => {
    using dir = tempDir();
    const { pending } = store(dir);
    expect(pending.fileFor(state())).not.toBe(pending.fileFor(state({ url: "https://other.example.com" })));
  });

  test("a folder others may write to is refused: the state is not kept, and the log says why", async () => {
    using dir = tempDir();
    const { pending, log } = store(dir);
    mkdirSync(pending.dir, { recursive: true });
    chmodSync(pending.dir, 0o777);
    expect(await pending.keep(state())).toBeUndefined();
    expect(log()).toContain("cannot keep the job's final state on disk");
    expect(log()).toContain("has mode 0777: others than drover's user may use it (expected 0700)");
    expect(pending.count).toBe(0);
  });

  describe("files that are not trusted are reported by name and left in place", () => {
    async function takeOne(dir: TempDir, name: string, content: string, fileMode = 0o600) {
      const { pending } = store(dir);
      mkdirSync(pending.dir, { recursive: true, mode: 0o700 });
      const file = join(pending.dir, name);
      writeFileSync(file, content);
      chmodSync(file, fileMode);
      const entries = await pending.takeUnclaimed();
      expect(readFileSync(file, "utf8")).toBe(content);
      return { entries, file, pending };
    }
    const validName = (dir: TempDir) => store(dir).pending.fileFor(state()).split("/").at(-1)!;

    test("damaged: not JSON", async () => {
      using dir = tempDir();
      const { entries, file } = await takeOne(dir, validName(dir), '{"format": "drover-pending-fin');
      expect(entries).toEqual([{ ok: false, file, problem: expect.stringMatching(/^is not valid JSON \(/) }]);
      expect(entries[0]?.ok === false && entries[0].problem).toContain(
        "it was damaged, or drover did not write it",
      );
    });

    test("foreign: JSON that is not drover's format", async () => {
      using dir = tempDir();
      const { entries, file } = await takeOne(dir, validName(dir), '{"job_id": 42}');
      expect(entries).toEqual([
        {
          ok: false,
          file,
          problem: `is not a drover pending final update (format: expected "${PENDING_FORMAT}", got nothing)`,
        },
      ]);
    });

    test("readable by others (0644): refused before it is read", async () => {
      using dir = tempDir();
      const { entries, file } = await takeOne(dir, validName(dir), encodeKept(state()), 0o644);
      expect(entries).toEqual([
        { ok: false, file, problem: "has mode 0644: others than drover's user may use it (expected 0600)" },
      ]);
    });

    test("a symbolic link: refused, not followed", async () => {
      using dir = tempDir();
      const { pending } = store(dir);
      mkdirSync(pending.dir, { recursive: true, mode: 0o700 });
      const target = dir.file("elsewhere.json", encodeKept(state()), 0o600);
      const file = pending.fileFor(state());
      symlinkSync(target, file);
      expect(await pending.takeUnclaimed()).toEqual([{ ok: false, file, problem: "is a symbolic link" }]);
    });

    test("its name does not match the job it holds", async () => {
      using dir = tempDir();
      const { entries, file } = await takeOne(dir, "job-7-000000000000.json", encodeKept(state()));
      expect(entries).toEqual([
        { ok: false, file, problem: "its name does not match the job and coordinator it holds" },
      ]);
    });

    test("other names in the folder (temporary files) are not looked at", async () => {
      using dir = tempDir();
      const { entries } = await takeOne(dir, ".123-1-abc.tmp", "half a fi");
      expect(entries).toEqual([]);
    });
  });

  test("owned by another user: refused (the check on its own: only root could make such a file here)", () => {
    const stat = (uid: number, fileMode: number, isFile = true) => ({
      uid,
      mode: fileMode,
      isFile: () => isFile,
      isDirectory: () => !isFile,
    });
    expect(trustProblem(stat(1000, 0o100600), 1000, "file")).toBeUndefined();
    expect(trustProblem(stat(1234, 0o100600), 1000, "file")).toBe(
      "is owned by uid 1234, not by drover's user (uid 1000)",
    );
    expect(trustProblem(stat(1000, 0o100640), 1000, "file")).toBe(
      "has mode 0640: others than drover's user may use it (expected 0600)",
    );
    expect(trustProblem(stat(1000, 0o40700, false), 1000, "file")).toBe("is not a regular file");
    expect(trustProblem(stat(1000, 0o40700, false), 1000, "directory")).toBeUndefined();
    expect(trustProblem(stat(1000, 0o40750, false), 1000, "directory")).toBe(
      "has mode 0750: others than drover's user may use it (expected 0700)",
    );
  });
});

describe("the file's fields", () => {
  const field = (change: (kept: Record<string, unknown>) => void) => {
    const kept = JSON.parse(encodeKept(state())) as Record<string, unknown>;
    change(kept);
    return decodeKept(JSON.stringify(kept));
  };

  test("a written file decodes to what was kept", () => {
    expect(decodeKept(encodeKept(state()))).toEqual(state());
    const success = state({
      update: { state: "success", output: { checksum: "crc32:00000000", bytesize: 122 } },
    });
    expect(decodeKept(encodeKept(success))).toEqual(success);
  });

  test("each field is checked and named; a value is shown cut short, never a whole token", () => {
    expect(field((k) => (k.url = "file:///etc/passwd"))).toBe(
      'url: expected an http(s) URL, got "file:///etc/passwd"',
    );
    expect(field((k) => (k.job_id = -1))).toBe("job_id: expected a non-negative integer, got -1");
    expect(field((k) => delete k.job_token)).toBe("job_token: expected a non-empty string, got nothing");
    expect(field((k) => (k.state = "running"))).toBe('state: expected "success" or "failed", got "running"');
    expect(field((k) => (k.exit_code = 1.5))).toBe("exit_code: expected an integer, got 1.5");
    expect(field((k) => (k.output = { checksum: "md5:x", bytesize: 1 }))).toBe(
      'output.checksum: expected "crc32:" and 8 hex digits, got "md5:x"',
    );
    expect(field((k) => ((k.trace as Record<string, unknown>).base64 = "not base64!"))).toBe(
      "trace.base64: expected base64 text",
    );
    expect(field((k) => ((k.trace as Record<string, unknown>).offset = 99))).toBe(
      "trace: 22 bytes from offset 99 do not end at output.bytesize 122",
    );
    expect(field((k) => (k.state = "x".repeat(100)))).toBe(
      `state: expected "success" or "failed", got "${"x".repeat(36)}...`,
    );
  });
});

describe("stateDir", () => {
  test("$XDG_STATE_HOME/drover when absolute, else ~/.local/state/drover", () => {
    expect(stateDir({ XDG_STATE_HOME: "/var/lib/x", HOME: "/home/d" })).toBe("/var/lib/x/drover");
    expect(stateDir({ XDG_STATE_HOME: "relative", HOME: "/home/d" })).toBe("/home/d/.local/state/drover");
    expect(stateDir({ HOME: "/var/lib/drover" })).toBe("/var/lib/drover/.local/state/drover");
  });
});
