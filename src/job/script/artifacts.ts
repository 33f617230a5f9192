/**
 * The artifact stages (docs/jobs.md, "Artifacts and caches"), as GitLab Runner writes them
 * (shells/abstract.go writeDownloadArtifactsScript, writeUploadArtifacts): each runs drover's helper
 * (src/helper/) in the project dir, where the job runs.
 *
 *   download_artifacts   for each dependency with an archive: `Downloading artifacts for NAME
 *                        (ID)...`, then `drover artifacts-downloader --id ID`; a failure fails the
 *                        stage (retried per ARTIFACT_DOWNLOAD_ATTEMPTS)
 *   upload_artifacts_*   for each `artifacts:` entry whose `when` fits the job's outcome:
 *                        `Uploading artifacts...`, then `drover artifacts-uploader` with its paths,
 *                        excludes, name, expiry, format and type; a failure fails the stage
 *
 * The token goes in the helper's environment (DROVER_JOB_TOKEN), never on its command line.
 */
import type { ArtifactSpec, Job, ScriptContext } from "../model.ts";
import { quote, type ScriptWriter, shellWord } from "./bash.ts";
import { guardHelper, helperWord } from "./cache.ts";

/** Appends the downloads of `job`'s dependencies' archives; the script is in the project dir. */
export function writeDownloadArtifacts(w: ScriptWriter, job: Job, ctx: ScriptContext): void {
  const target = targetArgs(w, ctx, "Downloading artifacts");
  if (target === undefined) return;
  guardHelper(w, ctx, "Artifacts downloading", () => {
    for (const dependency of job.dependencies.filter((d) => d.hasArtifacts)) {
      w.print(`Downloading artifacts for ${dependency.name} (${dependency.id})...`);
      w.line(
        `DROVER_JOB_TOKEN=${quote(dependency.token || job.token)} ${helperWord()} artifacts-downloader ${[...target, "--id", dependency.id].map(shellWord).join(" ")}`,
      );
    }
  });
}

/** Appends the uploads of the artifacts that apply to the job's outcome; the script is in the project dir. */
export function writeUploadArtifacts(
  w: ScriptWriter,
  job: Job,
  artifacts: readonly ArtifactSpec[],
  ctx: ScriptContext,
): void {
  const target = targetArgs(w, ctx, "Uploading artifacts");
  if (target === undefined) return;
  guardHelper(w, ctx, "Uploading artifacts", () => {
    for (const artifact of artifacts) {
      const args = [...target, "--id", job.id];
      for (const path of artifact.paths) args.push("--path", path);
      for (const path of artifact.exclude) args.push("--exclude", path);
      if (artifact.untracked) args.push("--untracked");
      if (artifact.name) args.push("--name", artifact.name);
      if (artifact.expireIn) args.push("--expire-in", artifact.expireIn);
      if (artifact.artifactFormat) args.push("--artifact-format", artifact.artifactFormat);
      if (artifact.artifactType) args.push("--artifact-type", artifact.artifactType);
      w.print("Uploading artifacts...");
      w.line(
        `DROVER_JOB_TOKEN=${quote(job.token)} ${helperWord()} artifacts-uploader ${args.map(shellWord).join(" ")}`,
      );
    }
  });
}

/** `--url URL` or `--local-dir DIR`; without a target, a warning and undefined. */
function targetArgs(w: ScriptWriter, ctx: ScriptContext, action: string): string[] | undefined {
  const target = ctx.artifacts;
  if (target === undefined) {
    w.warning(`${action} is disabled: this job has no coordinator and no artifacts directory`);
    return undefined;
  }
  return target.kind === "coordinator" ? ["--url", target.url] : ["--local-dir", target.dir];
}
