/**
 * What a job may hand to git. Every git argument that comes from the job's payload (the repository
 * URL, its ref, the refspecs) is checked here before it reaches a script, because git reads an
 * argument that starts with "-" as an option (`--upload-pack=<command>` runs a command) and a URL
 * like `ext::<command>` as a transport that runs one (test/e2e/attacks/git-arguments.test.ts). The
 * script places them after `--end-of-options` as well (script/git.ts).
 *
 * Transports: http(s), ssh (also scp-like `user@host:path`) and git. A local repository (`file://`,
 * or a path) only where the runner allows it (`allow_local_repositories`, docs/configuration.md).
 */

export type RepositoryKind = "remote" | "local";

export interface Repository {
  kind: RepositoryKind;
  /** The URL with any credentials removed: what is written to .git/config and shown in logs. */
  url: string;
  /** Credentials from the URL (GitLab's `gitlab-ci-token:<job token>@`), passed to git in its environment. */
  credentials: { username: string; password: string } | undefined;
  /** `scheme://host[:port]/` for http(s) URLs: what an http.<url>.extraHeader applies to. */
  httpOrigin: string | undefined;
}

/** Parses a repository URL, or says why git must not be given it. */
export function parseRepository(url: string): Repository | { problem: string } {
  if (url === "") return { problem: "it is empty" };
  if (url.startsWith("-")) return { problem: "it starts with '-' (git would read it as an option)" };
  if (/[\x00-\x20\x7f]/.test(url)) return { problem: "it contains spaces or control characters" };
  if (url.includes("::"))
    return { problem: "it names a git remote helper (<transport>::<address>), which runs a program" };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    switch (scheme) {
      case "http":
      case "https":
        return httpRepository(url);
      case "ssh":
      case "git":
      case "git+ssh":
      case "ssh+git":
        return { kind: "remote", url, credentials: undefined, httpOrigin: undefined };
      case "file":
        return { kind: "local", url, credentials: undefined, httpOrigin: undefined };
      default:
        return { problem: `transport "${scheme}" is not allowed (http, https, ssh, git)` };
    }
  }
  // No scheme: a path is local; `[user@]host:path` (a ':' before any '/') is ssh, as git reads it.
  const colon = url.indexOf(":");
  const slash = url.indexOf("/");
  if (colon > 0 && (slash === -1 || colon < slash)) {
    return { kind: "remote", url, credentials: undefined, httpOrigin: undefined };
  }
  return { kind: "local", url, credentials: undefined, httpOrigin: undefined };
}

function httpRepository(url: string): Repository | { problem: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { problem: "it is not a valid URL" };
  }
  const credentials =
    parsed.username !== "" || parsed.password !== ""
      ? { username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) }
      : undefined;
  parsed.username = "";
  parsed.password = "";
  return {
    kind: "remote",
    url: parsed.toString(),
    credentials,
    httpOrigin: `${parsed.protocol}//${parsed.host}/`,
  };
}

/**
 * A ref name as git's check-ref-format allows it (and never one git would take for an option):
 * `main`, `feature/x`, `refs/heads/main`, `v1.2.3`. `allowGlob`: one `*` (refspec patterns).
 */
export function refNameProblem(name: string, options: { allowGlob?: boolean } = {}): string | undefined {
  if (name === "") return "it is empty";
  if (name.startsWith("-")) return "it starts with '-' (git would read it as an option)";
  if (/[\x00-\x20\x7f~^:?[\\]/.test(name))
    return "it contains a space, a control character or one of ~^:?[\\";
  if (!options.allowGlob && name.includes("*")) return "it contains '*'";
  if ((name.match(/\*/g) ?? []).length > 1) return "it contains more than one '*'";
  if (name.includes("..")) return "it contains '..'";
  if (name.includes("@{")) return "it contains '@{'";
  if (name.includes("//") || name.startsWith("/") || name.endsWith("/"))
    return "it has an empty path component";
  if (name.endsWith(".") || name.endsWith(".lock")) return "it ends with '.' or '.lock'";
  if (name.split("/").some((part) => part.startsWith("."))) return "a component starts with '.'";
  if (name === "@") return "it is '@'";
  return undefined;
}

/** A refspec: `[+]<src>[:<dst>]`, each side a ref name or pattern (src may be a commit id). */
export function refspecProblem(refspec: string): string | undefined {
  const body = refspec.startsWith("+") ? refspec.slice(1) : refspec;
  const parts = body.split(":");
  if (parts.length > 2) return "it has more than one ':'";
  const [src = "", dst] = parts;
  if (!/^[0-9a-f]{7,64}$/i.test(src)) {
    const problem = refNameProblem(src, { allowGlob: true });
    if (problem) return `its source ${problem}`;
  }
  if (dst !== undefined) {
    const problem = refNameProblem(dst, { allowGlob: true });
    if (problem) return `its destination ${problem}`;
  }
  return undefined;
}
