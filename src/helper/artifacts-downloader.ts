/**
 * `drover artifacts-downloader (--url URL | --local-dir DIR) --id ID`: gitlab-runner-helper's
 * artifacts-downloader (commands/helpers/artifacts_downloader.go). It downloads job ID's archive
 * with the token in DROVER_JOB_TOKEN (GitLab's direct download first, then through GitLab itself
 * after a failure), tried 3 times, and extracts it into the project dir the stage script runs in
 * (zip-extract.ts: entries that would leave it are refused). 401, 403 and 404 end it at once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extractZip } from "../archive/zip-extract.ts";
import type { ParsedArgs } from "../cli/args.ts";
import { downloadArtifacts } from "../coordinator/artifacts-api.ts";
import { HelperFailure, jobToken, pause, removedIfStopped, retryDelayMs, say, warn } from "./helper-run.ts";
import { findLocally } from "./local-artifacts.ts";

export const ARTIFACTS_DOWNLOADER_ARGS = { values: ["url", "local-dir", "id"], flags: ["direct-download"] };

const TRIES = 3;

export async function artifactsDownloader(args: ParsedArgs): Promise<void> {
  const url = args.values.get("url");
  const localDir = args.values.get("local-dir");
  const id = args.values.get("id");
  if (!url && !localDir) throw new HelperFailure("Missing runner credentials: --url or --local-dir");
  if (!id || !/^\d+$/.test(id)) throw new HelperFailure("Missing build ID");
  if (localDir) {
    const archive = findLocally(localDir, id);
    if (!archive)
      throw new HelperFailure(`Downloading artifacts from ${localDir}... not found: job ${id} left none`);
    say(`Downloading artifacts from ${archive}... ok`);
    await extract(archive);
    return;
  }
  const token = jobToken();
  const temp = mkdtempSync(join(tmpdir(), "drover-artifacts-"));
  const forget = removedIfStopped(temp);
  const file = join(temp, "artifacts.zip");
  try {
    for (let attempt = 1; ; attempt++) {
      // gitlab-runner: a direct download first (FF_USE_DIRECT_DOWNLOAD), through GitLab after a failure.
      const state = await downloadArtifacts({
        url: url!,
        jobId: id,
        token,
        file,
        directDownload: attempt === 1,
      });
      const line = `Downloading artifacts from coordinator... ${state.kind === "succeeded" ? "ok" : state.kind.replace("_", " ")}`;
      if (state.kind === "succeeded") {
        say(`${line}  id=${id} responseStatus=${state.status}`);
        break;
      }
      if (state.kind !== "failed")
        throw new HelperFailure(`${line}  id=${id} responseStatus=${state.status}: ${state.message}`);
      warn(`${line}  id=${id} responseStatus=${state.status}${state.message ? `: ${state.message}` : ""}`);
      if (attempt >= TRIES)
        throw new HelperFailure(`Downloading artifacts: gave up after ${attempt} attempts`);
      await pause(retryDelayMs(attempt));
    }
    await extract(file);
  } finally {
    rmSync(temp, { recursive: true, force: true });
    forget();
  }
}

async function extract(file: string): Promise<void> {
  let result: Awaited<ReturnType<typeof extractZip>>;
  try {
    result = await extractZip(file, process.cwd());
  } catch (err) {
    throw new HelperFailure(`the artifacts archive cannot be extracted: ${(err as Error).message}`);
  }
  for (const refused of result.refused) warn(`${refused}: not extracted`);
}
