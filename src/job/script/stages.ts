/**
 * One complete bash script per planned stage (docs/jobs.md). Every script exports the job's variables
 * (file variables written into `ctx.tmpDir`) and runs in the project dir; see bash.ts for the
 * wrapping and quoting rules.
 */

import { DroverError } from "../../../kernel/errors.ts";
import { variableTable, variableValue } from "../../../kernel/variables.ts";
import { FeatureFlags } from "../feature-flags.ts";
import type { Job, PlannedStage, ScriptContext } from "../model.ts";
import { artifactsToUpload, cachesToArchive, cachesToRestore, stepForStage } from "../plan.ts";
import { parseBool } from "../variables.ts";
import { writeDownloadArtifacts, writeUploadArtifacts } from "./artifacts.ts";
import { fileVariablePath, isShellName, ScriptWriter, shellWord } from "./bash.ts";
import { writeArchiveCache, writeRestoreCache } from "./cache.ts";
import { writeGetSources, writeJobCleanup } from "./git.ts";

/**
 * The bash script for `stage` of `job`. The caller runs it with `bash` (as a file or on stdin); its
 * exit status is the stage's: 0 success, else the failing command's status.
 *
 * @example
 * for (const stage of planStages(job)) {
 *   const script = renderStageScript(stage, job, { projectDir, buildsDir, cacheDir, variables, tmpDir });
 *   await executor.run(job.id, stage.name, script);
 * }
 */
export function renderStageScript(stage: PlannedStage, job: Job, context: ScriptContext): string {
  const flags = context.flags ?? FeatureFlags.resolve({}, context.variables);
  const sections = context.scriptSections ?? (flags.on("FF_SCRIPT_SECTIONS") && job.features.traceSections);
  const ctx: ScriptContext = { ...context, flags, scriptSections: sections };
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
      writeRestoreCache(w, job, cachesToRestore(job), ctx);
      break;
    case "archive_cache":
    case "archive_cache_on_failure":
      inProjectDir(w, ctx);
      writeArchiveCache(
        w,
        job,
        cachesToArchive(job, name === "archive_cache" ? "on_success" : "on_failure"),
        ctx,
      );
      break;
    case "download_artifacts":
      inProjectDir(w, ctx);
      writeDownloadArtifacts(w, job, ctx);
      break;
    case "upload_artifacts_on_success":
    case "upload_artifacts_on_failure":
      inProjectDir(w, ctx);
      writeUploadArtifacts(
        w,
        job,
        artifactsToUpload(job, name === "upload_artifacts_on_success" ? "on_success" : "on_failure"),
        ctx,
      );
      break;
    case "cleanup_file_variables":
      for (const v of ctx.variables) {
        if (v.file && isShellName(v.key)) w.command("rm", "-f", fileVariablePath(ctx.tmpDir, v.key));
      }
      // Only when empty: other tools (and GitLab's git template) may keep files there.
      w.line(`rmdir ${shellWord(ctx.tmpDir)} 2>/dev/null || true`);
      if (flags.on("FF_ENABLE_JOB_CLEANUP")) writeJobCleanup(w, job, ctx);
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
      w.command("cd", ctx.projectDir);
      if (isTrue(variableValue(variableTable(ctx.variables), "CI_DEBUG_TRACE"))) w.trace();
      if (name === "after_script") {
        w.print("Running after script...");
        w.userCommands(step.script, { sectionPrefix: "after_script_step", sections });
        break;
      }
      // GitLab's writeUserScript: the runner's pre_build_script and post_build_script run inside
      // every step's script, around the job's commands (a failure in either fails the step).
      const scripts = ctx.runnerScripts ?? {};
      if (scripts.preBuild)
        w.userCommands([scripts.preBuild], { sectionPrefix: "pre_build_script", sections });
      w.userCommands(step.script, { sectionPrefix: "script_step", sections });
      if (scripts.postBuild)
        w.userCommands([scripts.postBuild], { sectionPrefix: "post_build_script", sections });
    }
  }
  return w.build(name);
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && parseBool(value) === true;
}

function inProjectDir(w: ScriptWriter, ctx: ScriptContext): void {
  w.exportVariables(ctx.variables, ctx.tmpDir, ctx.pathPrepend).command("cd", ctx.projectDir);
}
