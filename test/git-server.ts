/**
 * A git server on 127.0.0.1 for end-to-end tests: `git http-backend` (the real smart HTTP
 * protocol) serving the repositories under `root`, behind Basic auth when `password` is given
 * (user `gitlab-ci-token`, GitLab's), with a hook that sees each request before it is answered.
 *
 * @example
 *   await using server = gitHttpServer({ root: repos, password: TOKEN });
 *   const url = `${server.url}/group/proj.git`;
 */

export interface GitHttpServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Request paths, in order (what git asked for). */
  requests: string[];
}

export function gitHttpServer(options: {
  root: string;
  password?: string;
  /** Runs before each authorised request is answered (git is waiting on it then). */
  onRequest?: (request: Request) => void;
}): GitHttpServer {
  const expected =
    options.password === undefined
      ? undefined
      : `Basic ${Buffer.from(`gitlab-ci-token:${options.password}`).toString("base64")}`;
  const requests: string[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      if (expected !== undefined && request.headers.get("authorization") !== expected) {
        return new Response("auth", { status: 401, headers: { "WWW-Authenticate": 'Basic realm="git"' } });
      }
      options.onRequest?.(request);
      const url = new URL(request.url);
      requests.push(url.pathname);
      const cgi = Bun.spawn(["git", "http-backend"], {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          GIT_PROJECT_ROOT: options.root,
          GIT_HTTP_EXPORT_ALL: "1",
          REQUEST_METHOD: request.method,
          PATH_INFO: url.pathname,
          QUERY_STRING: url.search.slice(1),
          CONTENT_TYPE: request.headers.get("content-type") ?? "",
          HTTP_CONTENT_ENCODING: request.headers.get("content-encoding") ?? "",
          GIT_PROTOCOL: request.headers.get("git-protocol") ?? "",
          REMOTE_USER: "gitlab-ci-token",
        },
        stdin: request.body ? new Uint8Array(await request.arrayBuffer()) : "ignore",
        stdout: "pipe",
      });
      const raw = Buffer.from(await new Response(cgi.stdout).arrayBuffer());
      const split = raw.indexOf("\r\n\r\n");
      const headers = new Headers();
      let status = 200;
      for (const line of raw.subarray(0, split).toString().split("\r\n")) {
        const [name, ...value] = line.split(":");
        if (name?.toLowerCase() === "status") status = Number(value.join(":").trim().split(" ")[0]);
        else if (name) headers.set(name, value.join(":").trim());
      }
      return new Response(raw.subarray(split + 4), { status, headers });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port as number,
    requests,
    [Symbol.asyncDispose]: async () => {
      await server.stop(true);
    },
  };
}
