/**
 * One complete bash script per planned stage (docs/jobs.md). Every script exports the job's variables
 * (file variables written into `ctx.tmpDir`) and runs in the project dir; see bash.ts for the
 * wrapping and quoting rules.
 */

import { DroverError } from "../../../kernel/errors.ts";
import type { Job, PlannedStage, ScriptContext } from "../model.ts";
import { cachesToArchive, cachesToRestore, stepForStage } from "../plan.ts";
import { fileVariablePath, isShellName, ScriptWriter, shellWord } from "./bash.ts";
import { writeArchiveCache, writeRestoreCache } from "./cache.ts";
import { writeGetSources } from "./git.ts";

/**
 * The bash script for `stage` of `job`. The caller runs it with `bash` (as a file or on stdin); its
 * exit status is the stage's: 0 success, else the failing command's status.
 *
 * @example
 * for (const stage of planStages(job)) {
 *   const script = renderStageScript(stage, job, { projectDir, buildsDir, cacheDir, variables, tmpDir, jobStatus });
 *   await executor.run(job.id, stage.name, script);
 * }
 */
export function renderStageScript(stage: PlannedStage, job: Job, ctx: ScriptContext): string {
  const w = new ScriptWriter(ctx.containment);
  const name = stage.name;
  switch (name) {
    case "prepare_script":
      // Runs before the project dir exists: it only says where the job runs.
      w.line(`printf 'Running on %s...\\n' "$(hostname 2>/dev/null || uname -n)"`);
      break;
    case "get_sources":
      w.exportVariables(ctx.variables, ctx.tmpDir, ctx.pathPrepend);
      writeGetSources(w, job, ctx);
      break;
    case "restore_cache":
      inProjectDir(w, ctx);
      writeRestoreCache(w, cachesToRestore(job), ctx);
      break;
    case "archive_cache":
    case "archive_cache_on_failure":
      inProjectDir(w, ctx);
      writeArchiveCache(w, cachesToArchive(job, name === "archive_cache" ? "on_success" : "on_failure"), ctx);
      break;
    // Artifacts travel through a coordinator (GitLab's artifacts API); until drover's coordinator
    // client does that, these stages say so and succeed rather than fail every job that has them.
    case "download_artifacts":
      w.warning("Downloading artifacts is not supported yet (it needs a coordinator); skipping");
      break;
    case "upload_artifacts_on_success":
    case "upload_artifacts_on_failure":
      w.warning("Uploading artifacts is not supported yet (it needs a coordinator); skipping");
      break;
    case "cleanup_file_variables":
      for (const v of ctx.variables) {
        if (v.file && isShellName(v.key)) w.command("rm", "-f", fileVariablePath(ctx.tmpDir, v.key));
      }
      // Only when empty: other tools (and GitLab's git template) may keep files there.
      w.line(`rmdir ${shellWord(ctx.tmpDir)} 2>/dev/null || true`);
      break;
    default: {
      const step = stepForStage(job, name);
      if (step === undefined) {
        throw new DroverError("internal", `cannot render stage "${name}": the job has no such step`, {
          jobId: job.id,
          stage: name,
        });
      }
      w.exportVariables(ctx.variables, ctx.tmpDir, ctx.pathPrepend);
      if (name === "after_script") w.line(`export CI_JOB_STATUS=${shellWord(ctx.jobStatus)}`);
      w.command("cd", ctx.projectDir);
      w.userCommands(step.script);
    }
  }
  return w.build(name);
}

function inProjectDir(w: ScriptWriter, ctx: ScriptContext): void {
  w.exportVariables(ctx.variables, ctx.tmpDir, ctx.pathPrepend).command("cd", ctx.projectDir);
}
