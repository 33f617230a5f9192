/**
 * `drover cache-extractor --file F`: unpacks a cache (`cache.zip`, drover's or gitlab-runner's)
 * into the project dir the stage script runs in, safely (zip-extract.ts). A missing cache is the
 * failure gitlab-runner reports ("file does not exist"): the stage script turns it into its
 * warning, since a missing cache never fails a job.
 */
import { existsSync } from "node:fs";
import { extractZip } from "../archive/zip-extract.ts";
import type { ParsedArgs } from "../cli/args.ts";
import { HelperFailure, say, warn } from "./helper-run.ts";

export const CACHE_EXTRACTOR_ARGS = { values: ["file", "timeout"] };

export async function cacheExtractor(args: ParsedArgs): Promise<void> {
  const file = args.values.get("file");
  if (!file) throw new HelperFailure("Missing --file");
  say(
    "No URL provided, cache will not be downloaded from shared cache server. Instead a local version of cache will be extracted.",
  );
  if (!existsSync(file)) {
    warn("file does not exist");
    throw new HelperFailure("");
  }
  let result: Awaited<ReturnType<typeof extractZip>>;
  try {
    result = await extractZip(file, process.cwd());
  } catch (err) {
    throw new HelperFailure(`${file}: ${(err as Error).message}`);
  }
  for (const refused of result.refused) warn(`${refused}: not extracted`);
}
