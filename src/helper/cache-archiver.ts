/**
 * `drover cache-archiver --file F --path P... [--untracked] [--exclude P...]`: packs the job's
 * cache into `F` (a zip, gitlab-runner's `cache.zip`), in the project dir the stage script runs
 * in. As gitlab-runner's: no files is a warning and nothing written; an archive newer than every
 * file is left as it is ("Archive is up to date!"); the archive replaces the old one only when it
 * is complete. drover keeps caches on the host only (a distributed cache is refused by config
 * check), so it says, as gitlab-runner does without a cache URL, that the cache stays local.
 */
import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { createZip } from "../archive/zip-create.ts";
import type { ParsedArgs } from "../cli/args.ts";
import { filesFromArguments, HelperFailure, removedIfStopped, say, warn } from "./helper-run.ts";

export const CACHE_ARCHIVER_ARGS = {
  values: ["file", "timeout"],
  lists: ["path", "exclude"],
  flags: ["untracked"],
};

export async function cacheArchiver(args: ParsedArgs): Promise<void> {
  const file = args.values.get("file");
  if (!file) throw new HelperFailure("Missing --file");
  const wd = process.cwd();
  const list = filesFromArguments(args);
  if (list.entries.size === 0) {
    warn("No files to cache.");
    return;
  }
  if (upToDate(file, list.entries.values())) {
    say("Archive is up to date!");
    return;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  await createZip(list, wd, file, { onTemporary: removedIfStopped });
  say(
    "No URL provided, cache will not be uploaded to shared cache server. Cache will be stored only locally.",
  );
}

/** gitlab-runner's isFileChanged: the archive exists and no file is newer than it. */
function upToDate(file: string, entries: Iterable<{ mtimeMs: number }>): boolean {
  let archived: number;
  try {
    archived = statSync(file).mtimeMs;
  } catch {
    return false;
  }
  for (const stats of entries) if (stats.mtimeMs > archived) return false;
  return true;
}
