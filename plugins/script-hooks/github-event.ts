/**
 * GITHUB_EVENT_PATH's content: a GitHub-shaped event (a `push` event's fields) built from the job,
 * so that a hook written for GitHub's runner reads what it expects (`jq .repository.full_name`,
 * `.ref`, `.after`, `.sender.login`). Built only from what drover passes hooks (the allow-listed
 * CI_* values, src/job/hook-context.ts): no token, no secret, nothing a project chose.
 *
 * @example
 * githubEvent(new Map([["CI_PROJECT_PATH", "grp/app"], ["CI_COMMIT_SHA", "9e18a4d6..."]]))
 * // → { ref: undefined, after: "9e18a4d6...", repository: { full_name: "grp/app", ... }, ... }
 */

export function githubEvent(vars: ReadonlyMap<string, string>): Record<string, unknown> {
  const get = (key: string) => vars.get(key) || undefined;
  const number = (key: string) => {
    const value = get(key);
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
  };
  const tag = get("CI_COMMIT_TAG");
  const branch = get("CI_COMMIT_BRANCH");
  const sha = get("CI_COMMIT_SHA");
  const login = get("GITLAB_USER_LOGIN");
  return {
    ref: tag ? `refs/tags/${tag}` : branch ? `refs/heads/${branch}` : undefined,
    before: get("CI_COMMIT_BEFORE_SHA"),
    after: sha,
    repository: {
      id: number("CI_PROJECT_ID"),
      name: get("CI_PROJECT_NAME"),
      full_name: get("CI_PROJECT_PATH"),
      owner: { login: get("CI_PROJECT_NAMESPACE"), name: get("CI_PROJECT_NAMESPACE") },
      html_url: get("CI_PROJECT_URL"),
      clone_url: get("CI_REPOSITORY_URL"),
      default_branch: get("CI_DEFAULT_BRANCH"),
    },
    head_commit: sha ? { id: sha } : undefined,
    pusher: login ? { name: login } : undefined,
    sender: login ? { login, id: number("GITLAB_USER_ID") } : undefined,
  };
}
