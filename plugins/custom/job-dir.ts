/**
 * A job's private temp dir (GitLab Runner's `os.MkdirTemp("", "custom-executor")`): the working
 * directory and `TMPDIR` of every driver call of the job. It holds `response.json` (the job payload,
 * 0600, `JOB_RESPONSE_FILE`), the stage scripts (`script<random>/script.sh`, 0700) and the place a
 * driver writes `BUILD_EXIT_CODE_FILE`. Created by Configure, removed by Cleanup.
 */
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { ownedTempDir } from "@drover/plugin-sdk";

export interface JobDir {
  path: string;
  /** `JOB_RESPONSE_FILE`. */
  responseFile: string;
  /** `BUILD_EXIT_CODE_FILE`: only its path exists until a driver writes it. */
  buildExitCodeFile: string;
}

/** Creates the dir (0700, in the plugin's temp dir) and writes `response.json` (0600). */
export function createJobDir(jobJson: string): JobDir {
  // GitLab's "custom-executor<random>", plus the owner (kernel/process/owned-temp-dirs.ts): the job JSON in
  // here must not outlive a SIGKILLed plugin past the next start of drover.
  const path = ownedTempDir("custom-executor-");
  const responseFile = join(path, "response.json");
  // Go's json.Encoder ends the document with a newline; drivers that `cat` it expect one too.
  writeFileSync(responseFile, `${jobJson}\n`, { mode: 0o600, flag: "wx" });
  return { path, responseFile, buildExitCodeFile: join(path, "build_exit_code") };
}

/** Writes one stage script into a fresh sub-dir (as GitLab does) and returns its path. */
export function writeStageScript(dir: JobDir, script: string): string {
  const scriptDir = mkdtempSync(join(dir.path, "script"));
  const file = join(scriptDir, "script.sh");
  writeFileSync(file, script, { mode: 0o700, flag: "wx" });
  return file;
}

/** Removes a `BUILD_EXIT_CODE_FILE` left by an earlier call, so it cannot speak for a later one. */
export function forgetBuildExitCode(dir: JobDir): void {
  rmSync(dir.buildExitCodeFile, { force: true });
}

/** Bytes of BUILD_EXIT_CODE_FILE read: its first line is all that counts. */
const EXIT_CODE_READ_LIMIT = 4096;

/**
 * The text of `BUILD_EXIT_CODE_FILE`, or undefined when there is none. Like GitLab, a file that
 * cannot be opened counts as absent. Unlike GitLab, a symbolic link is not followed (O_NOFOLLOW):
 * the job's own tooling may write there, and must not make drover read another file.
 */
export function readBuildExitCodeFile(dir: JobDir): string | undefined {
  let fd: number;
  try {
    fd = openSync(dir.buildExitCodeFile, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const buffer = Buffer.alloc(EXIT_CODE_READ_LIMIT);
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    return buffer.subarray(0, n).toString("utf8");
  } catch {
    return ""; // a directory, or unreadable: no exit code in it
  } finally {
    closeSync(fd);
  }
}

/** Removes the dir off the event loop (a job dir's removal took ~3 ms of a warm job's 50: bench e). */
export function removeJobDir(dir: JobDir): Promise<void> {
  return rm(dir.path, { recursive: true, force: true });
}
