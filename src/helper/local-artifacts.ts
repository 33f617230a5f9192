/**
 * Artifacts without a coordinator, for `drover exec --artifacts-dir DIR`: a job's uploads are kept
 * as `DIR/<job id>/<artifact type>/<file name>`, and a later job's `dependencies` are served from
 * there, so a pipeline's jobs can run one after another on a laptop (README, "Usage"). The archive
 * a job downloads is its dependency's `archive` artifact, as from GitLab.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync } from "node:fs";
import { join } from "node:path";

/** Keeps `file` as job `jobId`'s artifact of `type`, named `baseName`. */
export function storeLocally(
  dir: string,
  jobId: string,
  type: string,
  baseName: string,
  file: string,
): string {
  checkId(jobId);
  const target = join(dir, jobId, safeName(type || "archive"));
  mkdirSync(target, { recursive: true, mode: 0o700 });
  const path = join(target, safeName(baseName));
  const temp = `${path}.${process.pid}.tmp`;
  copyFileSync(file, temp);
  renameSync(temp, path);
  return path;
}

/** The `archive` artifact job `jobId` left in `dir`, or undefined. */
export function findLocally(dir: string, jobId: string): string | undefined {
  checkId(jobId);
  const archives = join(dir, jobId, "archive");
  if (!existsSync(archives)) return undefined;
  const files = readdirSync(archives)
    .filter((name) => !name.endsWith(".tmp"))
    .sort();
  return files.length ? join(archives, files[0]!) : undefined;
}

function checkId(jobId: string): void {
  if (!/^[0-9A-Za-z_-]{1,64}$/.test(jobId)) throw new Error(`not a job id: ${JSON.stringify(jobId)}`);
}

/** A name from the job, as one path component. */
function safeName(name: string): string {
  const clean = name.replace(/[/\\\0]/g, "_");
  return clean === "" || clean === "." || clean === ".." ? "_" : clean;
}
