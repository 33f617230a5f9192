/**
 * `drover artifacts-uploader (--url URL | --local-dir DIR) --id ID --path P... [--exclude P...]
 * [--untracked] [--name N] [--expire-in E] [--artifact-format zip|gzip|raw] [--artifact-type T]`:
 * gitlab-runner-helper's artifacts-uploader (commands/helpers/artifacts_uploader.go). It lists the
 * files (file-list.ts), archives them in a private temp dir, and uploads the archive with the job
 * token from DROVER_JOB_TOKEN:
 *
 *   - tried 3 times, 6 when GitLab answers 503; a redirect (307/308) moves to the new host and
 *     tries again; 403 and 413 ("too large") end it at once;
 *   - no files: `ERROR: No files to upload`, and success (as gitlab-runner: nothing to lose);
 *   - the file name GitLab stores: `<name>.zip`, `<name>.gz`, or `<name>` for raw.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { createGzipMembers } from "../archive/gzip-members.ts";
import { createZip } from "../archive/zip-create.ts";
import type { ParsedArgs } from "../cli/args.ts";
import { type UploadState, uploadArtifacts } from "../coordinator/artifacts-api.ts";
import {
  expandFromEnvironment,
  filesFromArguments,
  HelperFailure,
  jobToken,
  pause,
  removedIfStopped,
  retryDelayMs,
  say,
  warn,
} from "./helper-run.ts";
import { storeLocally } from "./local-artifacts.ts";

export const ARTIFACTS_UPLOADER_ARGS = {
  values: ["url", "local-dir", "id", "name", "expire-in", "artifact-format", "artifact-type"],
  lists: ["path", "exclude"],
  flags: ["untracked"],
};

const TRIES = 3;
const SERVICE_UNAVAILABLE_TRIES = 6;

export async function artifactsUploader(args: ParsedArgs): Promise<void> {
  const url = args.values.get("url");
  const localDir = args.values.get("local-dir");
  const id = args.values.get("id");
  if (!url && !localDir) throw new HelperFailure("Missing runner credentials: --url or --local-dir");
  if (!id || !/^\d+$/.test(id)) throw new HelperFailure("Missing build ID");
  const format = args.values.get("artifact-format") || "zip";
  if (format !== "zip" && format !== "gzip" && format !== "raw") {
    throw new HelperFailure(`unsupported archive format: ${format}`);
  }
  const type = args.values.get("artifact-type") ?? "";
  const name = expandFromEnvironment(args.values.get("name") ?? "artifacts");
  const wd = process.cwd();
  const list = filesFromArguments(args);
  if (list.entries.size === 0) {
    say("ERROR: No files to upload");
    return;
  }
  const baseName = artifactFileName(name, format);
  const temp = mkdtempSync(join(tmpdir(), "drover-artifacts-"));
  const forget = removedIfStopped(temp);
  try {
    const archive = join(temp, baseName);
    if (format === "zip") await createZip(list, wd, archive);
    else if (format === "gzip") createGzipMembers(list, wd, archive);
    else {
      const files = [...list.entries].filter(([, stats]) => stats.isFile());
      if (files.length !== 1) {
        throw new HelperFailure(`the raw format takes exactly one file; ${files.length} were found`);
      }
      await Bun.write(archive, Bun.file(join(wd, files[0]![0])));
    }
    const what = type ? `Uploading artifacts as ${JSON.stringify(type)}` : "Uploading artifacts";
    if (localDir) {
      const kept = storeLocally(localDir, id, type, baseName, archive);
      say(`${what} to ${kept}... ok`);
      return;
    }
    await uploadWithRetries(url!, id, archive, {
      baseName,
      format,
      type,
      expireIn: args.values.get("expire-in") ?? "",
      what,
    });
  } finally {
    rmSync(temp, { recursive: true, force: true });
    forget();
  }
}

async function uploadWithRetries(
  url: string,
  id: string,
  file: string,
  options: { baseName: string; format: string; type: string; expireIn: string; what: string },
): Promise<void> {
  const token = jobToken();
  let base = url;
  for (let attempt = 1; ; attempt++) {
    const state: UploadState = await uploadArtifacts({ url: base, jobId: id, token, file, ...options });
    const line = `${options.what} to coordinator... ${state.status}`;
    switch (state.kind) {
      case "succeeded":
        say(`${line}  id=${id} responseStatus=${state.status}`);
        return;
      case "redirected":
        // GitLab moved: gitlab-runner uploads there instead, and a redirect counts as a try (a
        // server that redirects to itself is not followed for ever).
        base = state.location;
        warn(`${line}: upload request redirected to ${base}`);
        if (attempt >= TRIES) throw new HelperFailure(`${options.what}: gave up after ${attempt} attempts`);
        break;
      case "forbidden":
        throw new HelperFailure(`${line}: ${state.message || "forbidden"}`);
      case "too_large":
        throw new HelperFailure(`${line}: ${state.message || "too large"}`);
      case "service_unavailable":
      case "failed":
        warn(`${line}${state.message ? `: ${state.message}` : ""}`);
        if (attempt >= (state.kind === "service_unavailable" ? SERVICE_UNAVAILABLE_TRIES : TRIES)) {
          throw new HelperFailure(`${options.what}: gave up after ${attempt} attempts`);
        }
        await pause(retryDelayMs(attempt));
    }
  }
}

/** gitlab-runner's artifactFilename: the name's last component (default "default") and the format's suffix. */
export function artifactFileName(name: string, format: string): string {
  let base = basename(name);
  if (base === "" || base === "." || base === "/") base = "default";
  if (format === "zip") return `${base}.zip`;
  if (format === "gzip") return `${base}.gz`;
  return base;
}
