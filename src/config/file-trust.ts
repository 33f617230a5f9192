/**
 * Whether config.toml may be trusted: it says what drover runs (hook scripts, plugins, drivers) and
 * holds runner tokens. The rule is kernel/files/trusted-path.ts's (OpenSSH's StrictModes): a file
 * another local user can change, or a directory on its path that they can write, is refused; a
 * group-writable one is warned about; a file that holds tokens and is readable by others is warned
 * about (files drover itself writes with tokens are 0600).
 */
import { statSync } from "node:fs";
import { describeTrustProblem, pathTrustProblems } from "../../kernel/files/trusted-path.ts";
import type { Config } from "./model.ts";

export interface FileTrust {
  /** Reasons to refuse the file. */
  errors: string[];
  warnings: string[];
}

export function configFileTrust(file: string, config: Config | undefined): FileTrust {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const problem of pathTrustProblems(file)) {
    const text = `not trusted (another local user could change what drover runs): ${describeTrustProblem(problem)}`;
    if (problem.kind === "writable" && problem.by === "group") warnings.push(text);
    else if (problem.kind !== "unreadable") errors.push(text);
  }
  const tokens = config?.runners.some((runner) => runner.token !== undefined) ?? false;
  if (tokens) {
    try {
      const mode = statSync(file).mode & 0o777;
      if (mode & 0o044) {
        warnings.push(
          `${file} holds runner tokens and is readable by ${mode & 0o004 ? "every local user" : "its group"} (mode ${mode.toString(8).padStart(4, "0")}); fix with: chmod 600 ${file}`,
        );
      }
    } catch {
      // unreadable now: the read that follows says so
    }
  }
  return { errors, warnings };
}
