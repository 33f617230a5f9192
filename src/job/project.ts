/**
 * Where a job's project lives: its "namespace/project" path and its directory under the builds dir
 * (docs/custom-executor.md, GitLab Runner's `Build.ProjectUniqueDir`).
 */

import { posix } from "node:path";
import type { Job, JobVariable } from "./model.ts";

/**
 * The job's "namespace/project": the CI_PROJECT_PATH variable (last definition wins), else the path
 * of the repository URL without ".git", else the project name, else "project-<id>".
 *
 * Unlike GitLab Runner, which refuses a repo_url path with "..", drover drops empty, "." and ".."
 * segments: the result is joined under the builds dir and must never climb out of it.
 */
export function projectPathOf(
  variables: readonly JobVariable[],
  repoUrl: string | undefined,
  projectName: string,
  projectId: number,
): string {
  let fromVariable: string | undefined;
  for (let i = variables.length - 1; i >= 0; i--) {
    if (variables[i]?.key === "CI_PROJECT_PATH") {
      fromVariable = variables[i]?.value;
      break;
    }
  }
  const candidates = [fromVariable, repoUrl === undefined ? undefined : repoUrlPath(repoUrl), projectName];
  for (const candidate of candidates) {
    const clean = cleanPath(candidate ?? "");
    if (clean !== "") return clean;
  }
  return `project-${projectId}`;
}

/** The path part of a git URL: `https://h/g/p.git`, `file:///x/p`, `git@h:g/p.git`, `/srv/p.git`. */
function repoUrlPath(url: string): string {
  let path = url;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    try {
      path = decodeURIComponent(new URL(url).pathname);
    } catch {
      return "";
    }
  } else {
    // scp-like syntax, as git reads it: "[user@]host:path" with no slash before the colon.
    const scp = /^(?:[^@/]+@)?[^/:]+:(.*)$/s.exec(url);
    if (scp?.[1] !== undefined) path = scp[1];
  }
  return path.replace(/\/+$/, "").replace(/\.git$/, "");
}

function cleanPath(path: string): string {
  return path
    .split("/")
    .filter((segment) => segment !== "" && segment !== "." && segment !== "..")
    .join("/");
}

/**
 * The project directory: `<builds_dir>/<namespace>/<project>`, or with a shared builds dir
 * `<builds_dir>/<runner short token>/<concurrent project id>/<namespace>/<project>` so that concurrent
 * jobs of one project never share a checkout. An ad-hoc job (`drover exec -- cmd`) runs in its `cwd`.
 */
export function projectDirFor(
  job: Job,
  buildsDir: string,
  shared: { isShared: boolean; runnerShortToken: string; concurrentProjectId: number },
): string {
  if (job.adHoc) return job.adHoc.cwd;
  if (!shared.isShared) return posix.join(buildsDir, job.projectPath);
  return posix.join(
    buildsDir,
    cleanPath(shared.runnerShortToken),
    String(shared.concurrentProjectId),
    job.projectPath,
  );
}
