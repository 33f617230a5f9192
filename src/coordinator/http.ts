/**
 * One HTTP exchange with a coordinator: `fetch` with a timeout, the answer read whole, and every
 * way the exchange can fail turned into one sentence. Nothing here throws: a coordinator that is
 * down, slow or speaking garbage is an ordinary outcome the callers back off from (docs/daemon.md).
 *
 * Every request carries a fresh `X-Request-Id` (GitLab Runner's correlation id, network/gitlab.go
 * `addCorrelationID`); GitLab's answer carries the id it logged the request under, which is the one
 * an administrator looks up in GitLab's logs, so that one is kept when present (`getCorrelationID`).
 */
import { randomUUID } from "node:crypto";
import { VERSION } from "../version.ts";
import { type ServerDelay, serverDelay } from "./retry-after.ts";

/**
 * GitLab Runner sends the runner's token in this header on every runner-authenticated request
 * (`RunnerTokenHeader`: POST jobs/request, and registration), besides `token` in the JSON body,
 * which is what GitLab reads there.
 */
export const RUNNER_TOKEN_HEADER = "RUNNER-TOKEN";
/**
 * The job's token, on every job-authenticated request (`JobTokenHeader`): PUT jobs/:id (with
 * `token` in the body as well), PATCH jobs/:id/trace (header only: the body is the trace), and the
 * artifacts endpoints.
 */
export const JOB_TOKEN_HEADER = "JOB-TOKEN";
const REQUEST_ID_HEADER = "X-Request-Id";

/** GitLab Runner's names for the three endpoints (its `gitlab_runner_api_request_statuses_total`). */
export type Endpoint = "request_job" | "update_job" | "patch_trace";

export interface Answer {
  ok: true;
  status: number;
  headers: Headers;
  body: string;
  /** GitLab's correlation id for the request (its `X-Request-Id` answer header), else the one sent. */
  requestId: string;
}

export interface TransportFailure {
  ok: false;
  /** One line: what went wrong, e.g. `connection refused by 127.0.0.1:8080`. */
  problem: string;
  /** The `X-Request-Id` sent: a proxy that saw the request may have logged it. */
  requestId: string;
}

/**
 * An exchange that did not do what was asked, as the callers report it: the sentence for the log,
 * the id to find the request in GitLab's logs, and the wait the coordinator asked for.
 */
export interface FailedExchange {
  problem: string;
  requestId: string;
  /** What RateLimit-ResetTime or Retry-After asked for; undefined when nothing (or no answer). */
  retryAfter: ServerDelay | undefined;
}

/** `exchange`'s outcome as a FailedExchange; `problem` replaces the transport's sentence for an answer. */
export function failedExchange(outcome: Answer | TransportFailure, problem?: string): FailedExchange {
  if (!outcome.ok) return { problem: outcome.problem, requestId: outcome.requestId, retryAfter: undefined };
  return {
    problem: problem ?? `the coordinator answered ${outcome.status}`,
    requestId: outcome.requestId,
    retryAfter: serverDelay(outcome.headers),
  };
}

/** A fresh correlation id: 32 hex digits, as GitLab Runner's `NewCorrelationID` (a UUID without dashes). */
export function newRequestId(): string {
  return randomUUID().replaceAll("-", "");
}

/** Told about every exchange: metrics count them by endpoint and status. */
export interface ExchangeObserver {
  exchanged(endpoint: Endpoint, outcome: number | "error"): void;
}

export interface ExchangeOptions {
  method: "POST" | "PUT" | "PATCH";
  /** Relative to `<url>/api/v4/`, e.g. `jobs/request`. */
  path: string;
  json?: unknown;
  text?: Uint8Array;
  headers?: Record<string, string>;
  timeoutMs: number;
  /** Cuts the exchange short (forced exit). */
  signal?: AbortSignal;
}

const USER_AGENT = `drover ${VERSION} (${process.platform}; ${process.arch})`;

export class CoordinatorHttp {
  /** The runner's `url`, as configured. */
  readonly url: string;
  readonly #base: string;
  readonly #observer: ExchangeObserver | undefined;

  /** `url` is the runner's `url` from config.toml (GitLab's instance URL, with or without a path). */
  constructor(url: string, observer?: ExchangeObserver) {
    this.url = url;
    this.#base = `${url.replace(/\/+$/, "")}/api/v4/`;
    this.#observer = observer;
  }

  get baseUrl(): string {
    return this.#base;
  }

  async exchange(endpoint: Endpoint, options: ExchangeOptions): Promise<Answer | TransportFailure> {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    const requestId = newRequestId();
    const headers: Record<string, string> = {
      "User-Agent": USER_AGENT,
      Accept: "application/json",
      [REQUEST_ID_HEADER]: requestId,
    };
    let body: string | Uint8Array | undefined;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    } else if (options.text !== undefined) {
      headers["Content-Type"] = "text/plain";
      body = options.text;
    }
    Object.assign(headers, options.headers);
    try {
      const response = await fetch(this.#base + options.path, {
        method: options.method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal,
        redirect: "follow",
      });
      const text = await response.text();
      this.#observer?.exchanged(endpoint, response.status);
      return {
        ok: true,
        status: response.status,
        headers: response.headers,
        body: text,
        requestId: response.headers.get(REQUEST_ID_HEADER)?.trim() || requestId,
      };
    } catch (err) {
      this.#observer?.exchanged(endpoint, "error");
      return {
        ok: false,
        problem: describeTransportError(err, this.#base, options.timeoutMs, timeout),
        requestId,
      };
    }
  }
}

/**
 * A failed `fetch` as one sentence. Bun and Node (undici) report the same conditions differently:
 * the code sits on the error or on its `cause`.
 */
export function describeTransportError(
  err: unknown,
  base: string,
  timeoutMs: number,
  timeout?: AbortSignal,
): string {
  const host = URL.canParse(base) ? new URL(base).host : base;
  const error = err instanceof Error ? err : new Error(String(err));
  const cause = error.cause instanceof Error ? error.cause : undefined;
  const code = String(
    (error as { code?: unknown }).code ?? (cause as { code?: unknown } | undefined)?.code ?? "",
  );
  // Our own deadline: the coordinator accepted the connection but did not answer in time.
  if (timeout?.aborted || error.name === "TimeoutError")
    return `no answer from ${host} within ${timeoutMs / 1000}s`;
  // The caller gave up (forced exit).
  if (error.name === "AbortError") return `request to ${host} aborted`;
  switch (code) {
    // Nothing listens there: the coordinator is down or restarting.
    case "ECONNREFUSED":
    case "ConnectionRefused":
      return `connection refused by ${host}`;
    // The connection dropped mid-exchange: a proxy or the coordinator closed it.
    case "ECONNRESET":
    case "ConnectionClosed":
    case "UND_ERR_SOCKET":
      return `connection to ${host} closed before the answer was complete`;
    // A DNS problem: the name does not resolve (yet).
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot resolve ${host}`;
    // No route or a firewall dropping packets.
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `cannot reach ${host} (${code})`;
    // TLS: a wrong or self-signed certificate.
    case "CERT_HAS_EXPIRED":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "SELF_SIGNED_CERT_IN_CHAIN":
      return `TLS certificate of ${host} not accepted (${code})`;
    default:
      return `request to ${host} failed: ${error.message}${code ? ` (${code})` : ""}`;
  }
}
