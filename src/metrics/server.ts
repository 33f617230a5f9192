/**
 * The HTTP endpoint on `listen_address` (GitLab Runner's metrics server, with node:http):
 * `GET /metrics` (Prometheus text format) and `GET /healthz`: 200 while drover can take jobs, 503
 * when it cannot (every runner unhealthy, or stopping), so that a load balancer or supervisor stops
 * counting on it; the body says why, runner by runner (src/daemon/health.ts).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface MetricsServer {
  /** `host:port` actually bound (the port is chosen by the system for `:0`). */
  readonly address: string;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  /** `host:port`, `:port` (every interface, as GitLab Runner reads it) or `[v6]:port`. */
  listenAddress: string;
  render: () => string;
  /** `serving` decides 200 or 503; `report` is the JSON body. */
  health: () => { serving: boolean; report: unknown };
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(options.listenAddress);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
    } else if (path === "/metrics") {
      res
        .writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" })
        .end(options.render());
    } else if (path === "/healthz" || path === "/health") {
      const { serving, report } = options.health();
      res.writeHead(serving ? 200 : 503, { "Content-Type": "application/json" }).end(JSON.stringify(report));
    } else {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found: try /metrics or /healthz\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** `127.0.0.1:9252`, `:9252`, `[::1]:9252`, `localhost:9252`. Throws on anything else. */
export function parseListenAddress(address: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address.trim());
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65535) {
    throw new Error(
      `listen_address ${JSON.stringify(address)} is not host:port (e.g. "127.0.0.1:9252" or ":9252")`,
    );
  }
  const host = match[1] ?? match[2];
  return { host: host === "" ? undefined : host, port };
}
