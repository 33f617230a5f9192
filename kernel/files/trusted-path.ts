/**
 * Whether a file may be trusted to hold what drover runs or reads its orders from (a plugin, a hook
 * script, config.toml, the plugin lock): OpenSSH's StrictModes rule. The file and every directory
 * from `/` down to it must be owned by root or by drover's own user, and writable by nobody else;
 * otherwise another local user could change the file, or replace it (a directory they can write
 * lets them rename another file into its place). A world-writable directory with the sticky bit
 * (`/tmp`) is allowed: there, only an entry's owner may rename or remove it.
 *
 * Symbolic links are resolved first, and the real path is what is checked.
 *
 * @example
 * const problems = pathTrustProblems("/opt/hooks/start.sh");
 * if (problems.length) throw new Error(describeTrustProblem(problems[0]));
 */
import { realpathSync, statSync } from "node:fs";
import { dirname } from "node:path";

export type TrustProblem =
  | { kind: "unreadable"; path: string; code: string }
  | { kind: "owner"; path: string; uid: number; expected: number }
  | { kind: "writable"; path: string; mode: number; by: "group" | "others" };

const STICKY = 0o1000;

/**
 * Every reason `path` is not trusted, from `/` down (empty: trusted). `uid` is drover's user; a
 * process without uids (Windows) trusts everything.
 */
export function pathTrustProblems(
  path: string,
  uid: number | undefined = process.getuid?.(),
): TrustProblem[] {
  if (uid === undefined) return [];
  let real: string;
  try {
    real = realpathSync(path);
  } catch (err) {
    return [{ kind: "unreadable", path, code: (err as NodeJS.ErrnoException).code ?? String(err) }];
  }
  const chain: string[] = [];
  for (let p = real; ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  const problems: TrustProblem[] = [];
  for (const p of chain) {
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(p);
    } catch (err) {
      problems.push({
        kind: "unreadable",
        path: p,
        code: (err as NodeJS.ErrnoException).code ?? String(err),
      });
      break;
    }
    if (stat.uid !== 0 && stat.uid !== uid)
      problems.push({ kind: "owner", path: p, uid: stat.uid, expected: uid });
    const stickyDir = stat.isDirectory() && (stat.mode & STICKY) !== 0;
    if (stat.mode & 0o002 && !stickyDir)
      problems.push({ kind: "writable", path: p, mode: stat.mode & 0o7777, by: "others" });
    else if (stat.mode & 0o020 && !stickyDir)
      problems.push({ kind: "writable", path: p, mode: stat.mode & 0o7777, by: "group" });
  }
  return problems;
}

/** One line for the person at the terminal: what is wrong, and the command that fixes it. */
export function describeTrustProblem(problem: TrustProblem): string {
  switch (problem.kind) {
    case "unreadable":
      return `${problem.path} cannot be checked (${problem.code})`;
    case "owner":
      return `${problem.path} is owned by uid ${problem.uid}, not by root or drover's user (uid ${problem.expected}); fix with: chown ${problem.expected} ${problem.path}`;
    case "writable":
      return `${problem.path} is ${problem.by === "group" ? "group" : "world"}-writable (mode ${problem.mode.toString(8).padStart(4, "0")}); fix with: chmod ${problem.by === "group" ? "g" : "o"}-w ${problem.path}`;
  }
}
