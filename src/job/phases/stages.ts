/**
 * The run stages: each planned stage (plan.ts) that the outcome table lets run (outcome.ts
 * `shouldRun`), as one Run call with its generated script, retried where the plan says
 * (GET_SOURCES_ATTEMPTS, ...), cut by its own timeout and by the job's stop. A stage that runs on
 * cancel (after_script, cleanup_file_variables) is cut only by the hard abort once the job is
 * stopping.
 */
import { DroverError } from "../../../kernel/errors.ts";
import type { StageResult } from "../../../kernel/gen/drover/plugin/v1/job_pb.ts";
import type { ExecutorClient } from "../../../kernel/protocol/clients.ts";
import { fileVariablesDir } from "../job-environment.ts";
import type { JobRun } from "../job-run.ts";
import type { PlannedStage } from "../model.ts";
import { type StageRun, type StopReason, shouldRun } from "../outcome.ts";
import { planStages } from "../plan.ts";
import type { StageRecord } from "../result.ts";
import { clearWorktreeScript, renderStageScript } from "../script/index.ts";
import { streamStage } from "../stage-call.ts";
import { stageTitle } from "../stage-run.ts";

export async function stagesPhase(run: JobRun, client: ExecutorClient): Promise<void> {
  for (const stage of planStages(run.job)) {
    if (run.abort.aborted) break;
    // A stop that came between two stages cut none of them short; the job was stopped all the
    // same, before entering this stage's group.
    run.noteStop("stage", stage.group);
    if (stage.group === "post") run.enterPostStages();
    if (stage.group === "after_script" || stage.group === "post") run.settleJobStatus();
    if (!shouldRun(stage, run.status, run.stop.aborted, run.postStatus)) continue;
    const result = await runStage(run, client, stage);
    run.decide({ kind: "stage", stage }, result);
  }
  run.noteStop("stage");
  run.settleJobStatus();
}

/** One stage, with its attempts. */
async function runStage(run: JobRun, client: ExecutorClient, stage: PlannedStage): Promise<StageRun> {
  let result: StageRun = { outcome: "skipped", exitCode: undefined, message: undefined };
  for (let attempt = 1; attempt <= stage.attempts; attempt++) {
    if (attempt > 1)
      run.log.line(`Retrying ${stage.name} (attempt ${attempt} of ${stage.attempts})...`, "warning");
    // GitLab Runner (common/build.go attemptGetSourcesStage): before the second get_sources attempt,
    // and only then, a clear_worktree stage; when it fails, that attempt is skipped.
    if (stage.name === "get_sources" && attempt === 2 && !(await clearWorktree(run, client))) continue;
    result = await runStageOnce(run, client, stage);
    if (result.outcome !== "build_failure" && result.outcome !== "system_failure") break;
    if (result.retryable === false) break;
  }
  return result;
}

async function runStageOnce(run: JobRun, client: ExecutorClient, stage: PlannedStage): Promise<StageRun> {
  // A stage that runs after a stop is cut only by the hard abort (and its own timeout).
  const parent = stage.runsOnCancel && run.stop.aborted ? run.abort : run.stop;
  const controller = new AbortController();
  const onParent = () => controller.abort(parent.reason);
  parent.addEventListener("abort", onParent, { once: true });
  if (parent.aborted) controller.abort(parent.reason);
  const timer =
    stage.timeoutSeconds === undefined
      ? undefined
      : setTimeout(() => controller.abort("timeout" satisfies StopReason), stage.timeoutSeconds * 1000);
  try {
    let script: string;
    try {
      script = renderStageScript(stage, run.job, {
        projectDir: run.placement.projectDir,
        buildsDir: run.placement.buildsDir,
        cacheDir: run.placement.cacheDir,
        variables: [...run.variables],
        tmpDir: fileVariablesDir(run.job, run.options.executor, run.placement, run.options.jobKey),
        flags: run.featureFlags,
        runnerScripts: run.options.runner.scripts,
        ...(run.options.runner.cloneUrl ? { cloneUrl: run.options.runner.cloneUrl } : {}),
        ...(run.options.artifacts ? { artifacts: run.options.artifacts } : {}),
        ...(run.options.helper ? { helper: run.options.helper } : {}),
        pathPrepend: run.hookEffects.pathPrepend,
        allowLocalRepositories: run.options.allowLocalRepositories ?? false,
        containment: run.containment,
      });
    } catch (err) {
      // A script that cannot be written (e.g. a builds_dir of "/" that get_sources refuses to
      // empty) fails this stage; the stages that always run still do.
      run.logError(`ERROR: ${stage.name} failed`, err);
      const failed: StageRun = {
        outcome: DroverError.from(err).code === "config_invalid" ? "configuration_error" : "system_failure",
        exitCode: undefined,
        message: DroverError.from(err).shortMessage,
      };
      run.record(stage.name, failed, 0);
      return failed;
    }
    return await runScript(run, client, stage.name, script, controller.signal, stageTitle(stage));
  } finally {
    clearTimeout(timer);
    parent.removeEventListener("abort", onParent);
  }
}

/**
 * Before get_sources is tried again: GitLab's clear_worktree stage (script/clear-worktree.ts), run
 * like a stage (custom executor drivers get it as run_exec's stage argument). Never in the user's
 * own directory (`drover exec -- cmd` with the shell executor). Returns whether it succeeded.
 */
async function clearWorktree(run: JobRun, client: ExecutorClient): Promise<boolean> {
  if (run.job.adHoc && run.options.executor.kind === "shell") return true;
  const result = await runScript(
    run,
    client,
    "clear_worktree",
    clearWorktreeScript(run.placement.projectDir, run.containment),
    run.stop,
    "Clearing the worktree before get_sources is retried",
  );
  return result.outcome === "success";
}

/** One Run call: a script through the executor, its output into the job log. */
function runScript(
  run: JobRun,
  client: ExecutorClient,
  name: StageRecord["name"],
  script: string,
  signal: AbortSignal,
  title: string,
): Promise<StageRun> {
  const env: Record<string, string> = {};
  for (const variable of run.variables) if (!variable.file) env[variable.key] = variable.value;
  return streamStage(run, {
    name,
    signal,
    title,
    read: async (onOutput) => {
      let last: StageResult | undefined;
      for await (const event of client.run(
        { jobId: run.options.jobKey, stage: name, script, env, jobStatus: run.ciJobStatus },
        { signal },
      )) {
        if (event.event.case === "output") onOutput(event.event.value.data, event.event.value.stream);
        else if (event.event.case === "result") last = event.event.value;
      }
      return last;
    },
  });
}
