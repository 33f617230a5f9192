/**
 * GitHub's file commands after a hook exits, in its order (FileCommandManager): GITHUB_PATH →
 * add_path, GITHUB_ENV → set_env, GITHUB_OUTPUT / GITHUB_STATE → a warning (not supported in
 * hooks), GITHUB_STEP_SUMMARY → step_summary (at most 1 MiB). A file that cannot be processed is
 * an error annotation and fails the hook, as on GitHub ("Unable to process file command").
 */
import { readFileSync, statSync } from "node:fs";
import { dedupePaths, type FileCommandProblem, parseEnvFile, parsePathFile } from "./env-file.ts";
import {
  addPathEvent,
  annotationEvent,
  type LifecycleEventInit,
  setEnvEvent,
  stepSummaryEvent,
} from "./events.ts";
import type { HookFiles } from "./hook-env.ts";

/** GitHub's step summary limit (CreateStepSummaryCommand.AttachmentSizeLimit). */
export const STEP_SUMMARY_LIMIT = 1024 * 1024;

/** A file the hook wrote, if it is still a regular file; undefined when it is gone. */
function readHookFile(path: string): { size: number; read: () => string } | undefined {
  try {
    const stat = statSync(path);
    // Not a FIFO or a device: reading one could block the plugin or never end.
    if (!stat.isFile()) return undefined;
    return { size: stat.size, read: () => readFileSync(path, "utf8") };
  } catch {
    return undefined;
  }
}

/** GitHub's file commands, in its order: GITHUB_PATH, GITHUB_ENV, then the step summary. */
export function fileCommandEvents(files: HookFiles): {
  events: LifecycleEventInit[];
  failure: string | undefined;
} {
  const events: LifecycleEventInit[] = [];
  let failure: string | undefined;
  const report = (command: string, problems: readonly FileCommandProblem[]) => {
    for (const problem of problems) {
      if (problem.fatal) {
        events.push(
          annotationEvent(
            "error",
            `Unable to process file command '${command}' successfully. ${problem.message}`,
          ),
        );
        failure ??= `unable to process file command '${command}' (${problem.message})`;
      } else {
        events.push(annotationEvent("error", problem.message));
      }
    }
  };

  const pathFile = readHookFile(files.path);
  if (pathFile && pathFile.size > 0) {
    const parsed = parsePathFile(pathFile.read());
    for (const path of dedupePaths(parsed.paths)) events.push(addPathEvent(path));
    report("path", parsed.problems);
  }
  const envFile = readHookFile(files.env);
  if (envFile && envFile.size > 0) {
    const parsed = parseEnvFile(envFile.read());
    for (const v of parsed.variables) events.push(setEnvEvent(v.name, v.value));
    report("env", parsed.problems);
  }
  for (const [file, name, what] of [
    [files.output, "$GITHUB_OUTPUT", "outputs"],
    [files.state, "$GITHUB_STATE", "state"],
  ] as const) {
    if ((readHookFile(file)?.size ?? 0) > 0)
      events.push(
        annotationEvent(
          "warning",
          `${name} is not supported in job hooks and was ignored: a hook is not a step and has no ${what}.`,
        ),
      );
  }
  const summary = readHookFile(files.stepSummary);
  if (summary && summary.size > STEP_SUMMARY_LIMIT) {
    // GitHub's Constants.Runner.UnsupportedSummarySize, verbatim.
    events.push(
      annotationEvent(
        "error",
        `$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of ${STEP_SUMMARY_LIMIT / 1024}k, got ${Math.floor(summary.size / 1024)}k. For more information see: https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions#adding-a-markdown-summary`,
      ),
    );
  } else if (summary && summary.size > 0) {
    events.push(stepSummaryEvent(summary.read()));
  }
  return { events, failure };
}
