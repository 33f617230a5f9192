/**
 * One `drover plugin install`, `sync` or `remove` at a time per plugin dir: each reads the lock
 * file, changes it and writes it back, and an install removes staging dirs it believes abandoned.
 * The lock is a file created exclusively (`<plugin dir>/.install-lock`, holding the holder's pid);
 * one whose holder is gone (killed) is taken over. A waiter gives up after WAIT_MS with a message
 * naming the holder.
 */
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { DroverError } from "../../../kernel/errors.ts";

const WAIT_MS = 120_000;
const POLL_MS = 100;

export async function withPluginDirLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const path = join(dir, ".install-lock");
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(
        path,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = holderOf(path);
      if (holder !== undefined && !existsSync(`/proc/${holder}`)) {
        rmSync(path, { force: true }); // its holder was killed
        continue;
      }
      if (Date.now() > deadline)
        throw new DroverError(
          "plugin_source",
          `another drover plugin command${holder === undefined ? "" : ` (pid ${holder})`} has been changing ${dir} for ${WAIT_MS / 1000} s; try again when it is done`,
        );
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    try {
      return await work();
    } finally {
      rmSync(path, { force: true });
    }
  }
}

function holderOf(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
