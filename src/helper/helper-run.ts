/**
 * What drover's helper commands share (src/helper/: the commands a job's stage script runs where
 * the job runs, as gitlab-runner-helper's): their arguments, their output and their exit.
 *
 * Output: GitLab's lines on stdout, which the stage streams into the job log (`WARNING: ...`,
 * `ERROR: ...`). Exit status: 0 when the command did its work, 1 otherwise (gitlab-runner's
 * helpers end with logrus.Fatal, exit 1); the stage script decides what a failure means.
 *
 * The job token never comes on the command line, where other local users can read it
 * (/proc/<pid>/cmdline): the stage script gives it in the helper's environment, DROVER_JOB_TOKEN.
 */
import { rmSync } from "node:fs";
import { expandVariables } from "../../kernel/variables.ts";
import { type FileList, listFiles } from "../archive/file-list.ts";
import type { ParsedArgs } from "../cli/args.ts";

export const TOKEN_ENV = "DROVER_JOB_TOKEN";

/** A helper command's failure: its message is the `ERROR:` line, the exit status 1. */
export class HelperFailure extends Error {}

export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function warn(line: string): void {
  say(`WARNING: ${line}`);
}

/** The job token from the environment, or the failure that says it is missing. */
export function jobToken(): string {
  const token = process.env[TOKEN_ENV];
  if (!token) throw new HelperFailure(`Missing job token: ${TOKEN_ENV} is not set`);
  return token;
}

/**
 * `$VAR` and `${VAR}` in an artifact's name and paths, from the environment the stage exported
 * (gitlab-runner expands them with shell.Expand in its helper).
 */
export function expandFromEnvironment(text: string): string {
  const table = Object.entries(process.env)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([key, value]) => ({ key, value, raw: true }));
  return expandVariables(text, table);
}

/**
 * The files that `--path`, `--exclude` and `--untracked` name under the working directory (the
 * archivers' shared arguments), with their `$VAR`s expanded.
 */
export function filesFromArguments(args: ParsedArgs): FileList {
  return listFiles({
    wd: process.cwd(),
    paths: (args.lists.get("path") ?? []).map(expandFromEnvironment),
    exclude: (args.lists.get("exclude") ?? []).map(expandFromEnvironment),
    untracked: args.flags.has("untracked"),
    report: say,
  });
}

/** Temporary files and directories of this helper, removed if it is stopped by a signal. */
const temporaries = new Set<string>();
const STOP_SIGNALS = [
  ["SIGTERM", 15],
  ["SIGINT", 2],
  ["SIGHUP", 1],
] as const;
let trapped = false;

/**
 * Removes `path` (a file or a directory) if the helper is stopped by SIGTERM, SIGINT or SIGHUP
 * before it is done (a job canceled or timed out while it archives); returns the function that
 * forgets it once the helper has dealt with it itself. A SIGKILL leaves it, as any process would.
 */
export function removedIfStopped(path: string): () => void {
  if (!trapped) {
    trapped = true;
    for (const [signal, number] of STOP_SIGNALS) {
      process.on(signal, () => {
        for (const temporary of temporaries) rmSync(temporary, { recursive: true, force: true });
        process.exit(128 + number);
      });
    }
  }
  temporaries.add(path);
  return () => temporaries.delete(path);
}

/** Waits `ms`. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The pause before retry `attempt` (1-based): 1 s, 2 s, 4 s, ... up to 30 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(30_000, 1000 * 2 ** (attempt - 1));
}
