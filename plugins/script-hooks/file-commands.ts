/**
 * GitHub's file commands after a hook exits, in its order (FileCommandManager): GITHUB_PATH →
 * add_path, GITHUB_ENV → set_env, GITHUB_OUTPUT / GITHUB_STATE → a warning (not supported in
 * hooks), GITHUB_STEP_SUMMARY → step_summary (at most 1 MiB). A file that cannot be processed is
 * an error annotation and fails the hook, as on GitHub ("Unable to process file command").
 */
import { readFileSync, statSync } from "node:fs";
import {
  dedupePaths,
  type EnvFileVariable,
  type FileCommandProblem,
  parseEnvFile,
  parsePathFile,
} from "./env-file.ts";
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

/**
 * Limits of what GITHUB_ENV may set, beyond GitHub (whose runner lets anything through and then
 * fails to start the next step with E2BIG). Every variable set there is in the environment of every
 * later process of the job: Linux refuses an entry (`NAME=value`) longer than 128 KiB
 * (MAX_ARG_STRLEN) and arguments plus environment beyond about 2 MiB (ARG_MAX), so a hook that
 * sets more fails here, with a message, rather than every later stage with "Argument list too long"
 * (faults suite, hook-faults.test.ts "a 10 MiB env file").
 */
export const ENV_ENTRY_LIMIT = 128 * 1024;
/** All the variables of one GITHUB_ENV together (leaves room for the job's own variables). */
export const ENV_TOTAL_LIMIT = 1024 * 1024;
/** A GITHUB_ENV larger than this is not read at all (the plugin's memory). */
const ENV_FILE_READ_LIMIT = 16 * 1024 * 1024;

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

function kib(bytes: number): string {
  return `${Math.ceil(bytes / 1024)} KiB`;
}

/**
 * What the variables one hook run sets (GITHUB_ENV, and `::set-env` where it is allowed) take in
 * the environment, against ENV_ENTRY_LIMIT and ENV_TOTAL_LIMIT; a later value for a name replaces
 * the earlier one in the total.
 */
export class EnvBudget {
  readonly #sizes = new Map<string, number>();
  #total = 0;

  /** Counts the variable; or, when it would break a limit, says why and counts nothing. */
  add(name: string, value: string): string | undefined {
    const bytes = Buffer.byteLength(name) + Buffer.byteLength(value) + 2;
    if (bytes > ENV_ENTRY_LIMIT)
      return `${name} is ${kib(bytes)} long; an environment variable can hold at most ${kib(ENV_ENTRY_LIMIT)}, no process could be started with it`;
    const total = this.#total + bytes - (this.#sizes.get(name) ?? 0);
    if (total > ENV_TOTAL_LIMIT)
      return `with ${name} the variables set take ${kib(total)}; at most ${kib(ENV_TOTAL_LIMIT)} can be added to the environment of the job's processes`;
    this.#total = total;
    this.#sizes.set(name, bytes);
    return undefined;
  }
}

/**
 * The variables up to the first one that breaks the budget; that one is a fatal problem, as a
 * parse error stops the file there.
 */
function withinEnvLimits(
  variables: readonly EnvFileVariable[],
  budget: EnvBudget,
): {
  variables: EnvFileVariable[];
  problems: FileCommandProblem[];
} {
  for (const [index, v] of variables.entries()) {
    const over = budget.add(v.name, v.value);
    if (over !== undefined)
      return {
        variables: variables.slice(0, index),
        problems: [{ line: v.line, fatal: true, message: `$GITHUB_ENV line ${v.line}: ${over}` }],
      };
  }
  return { variables: [...variables], problems: [] };
}

/**
 * GitHub's file commands, in its order: GITHUB_PATH, GITHUB_ENV, then the step summary. `budget`
 * already holds what the run set with `::set-env`.
 */
export function fileCommandEvents(
  files: HookFiles,
  budget: EnvBudget = new EnvBudget(),
): {
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
  if (envFile && envFile.size > ENV_FILE_READ_LIMIT) {
    report("env", [
      {
        line: 0,
        fatal: true,
        message: `$GITHUB_ENV is ${kib(envFile.size)}; drover reads at most ${kib(ENV_FILE_READ_LIMIT)} (a process environment holds about 2 MiB)`,
      },
    ]);
  } else if (envFile && envFile.size > 0) {
    const parsed = parseEnvFile(envFile.read());
    const sized = withinEnvLimits(parsed.variables, budget);
    for (const v of sized.variables) events.push(setEnvEvent(v.name, v.value));
    report("env", [...parsed.problems, ...sized.problems]);
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
