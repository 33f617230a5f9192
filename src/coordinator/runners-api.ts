/**
 * GitLab's runner endpoints (lib/api/ci/runner.rb, `resource :runners`), as GitLab Runner calls them
 * (network/gitlab.go `VerifyRunner`, `ResetToken`, `UnregisterRunner`, `UnregisterRunnerManager`):
 *
 *   POST   /api/v4/runners/verify                      {token, system_id, info}  200 {id, token, token_expires_at}
 *                                                      (GitLab before 15.10: 200 with the text "200"); 403
 *   POST   /api/v4/runners/reset_authentication_token  {token}                   201 {token, token_expires_at}; 403
 *   DELETE /api/v4/runners                             {token}                   204; 403
 *   DELETE /api/v4/runners/managers                    {token, system_id}        204; 403; 404 (no such manager)
 *
 * The runner token goes in the JSON body and, except for the token reset (GitLab Runner sends no
 * header there), in `RUNNER-TOKEN` too; every request carries an `X-Request-Id` that GitLab logs.
 * Nothing here throws: each call ends in an outcome the caller decides about, and an answer that is
 * not what GitLab documents (not JSON, no id, a token that cannot be a token) is a failure with one
 * sentence saying what was wrong with it, never a half-read success.
 */
import { GO_ZERO_TIME, parseRfc3339 } from "../config/token-time.ts";
import { VERSION } from "../version.ts";
import { describeTransportError, newRequestId, RUNNER_TOKEN_HEADER } from "./http.ts";
import type { VersionInfo } from "./payload.ts";
import { snippet } from "./request-job.ts";

export type VerifyOutcome =
  /**
   * The token is valid. `runnerId` is undefined when GitLab answered in the format before 15.10
   * (no id); `tokenExpiresAt` undefined when the token never expires.
   */
  | { kind: "valid"; runnerId: number | undefined; tokenExpiresAt: Date | undefined }
  /** 403: GitLab does not know the token (the runner was deleted, or the token is wrong or expired). */
  | { kind: "refused" }
  | { kind: "failed"; problem: string };

export type ResetOutcome =
  | { kind: "reset"; token: string; tokenExpiresAt: Date | undefined }
  | { kind: "refused" }
  | { kind: "failed"; problem: string };

export type DeleteOutcome =
  | { kind: "deleted" }
  | { kind: "refused" }
  /** DELETE /runners/managers: 404 "Runner manager not found", GitLab has none with this system ID. */
  | { kind: "not_found" }
  | { kind: "failed"; problem: string };

/** GitLab Runner's client waits this long for these small requests. */
const TIMEOUT_MS = 60_000;

const USER_AGENT = `drover ${VERSION} (${process.platform}; ${process.arch})`;

/** A plausible runner token: printable ASCII, no blanks, not absurdly long. */
const TOKEN = /^[\x21-\x7e]{1,1024}$/;

interface Answer {
  status: number;
  body: string;
}

export class RunnersApi {
  readonly #base: string;
  readonly #timeoutMs: number;

  /** `url`: the GitLab instance, as in config.toml (with or without a path). */
  constructor(url: string, options: { timeoutMs?: number } = {}) {
    this.#base = `${url.replace(/\/+$/, "")}/api/v4/`;
    this.#timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  }

  /** `POST /runners/verify`: is `token` valid? With `systemId`, GitLab records this host's manager. */
  async verify(token: string, systemId: string | undefined, info: VersionInfo): Promise<VerifyOutcome> {
    const what = "POST /api/v4/runners/verify";
    const answer = await this.#send("POST", "runners/verify", token, {
      info,
      token,
      ...(systemId === undefined ? {} : { system_id: systemId }),
    });
    if (typeof answer === "string") return { kind: "failed", problem: answer };
    if (answer.status === 403) return { kind: "refused" };
    if (answer.status !== 200) return { kind: "failed", problem: unexpectedStatus(what, answer) };
    // GitLab before 15.10 answers the text "200": valid, but says nothing more.
    if (answer.body.trim() === "200")
      return { kind: "valid", runnerId: undefined, tokenExpiresAt: undefined };
    const body = jsonObject(what, answer);
    if (typeof body === "string") return { kind: "failed", problem: body };
    const { id } = body;
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id <= 0)
      return {
        kind: "failed",
        problem: `GitLab answered ${what} with a runner id that is not a positive integer: ${shown(id)}`,
      };
    const expires = expiry(what, body.token_expires_at);
    if (typeof expires === "string") return { kind: "failed", problem: expires };
    return { kind: "valid", runnerId: id, tokenExpiresAt: expires.time };
  }

  /** `POST /runners/reset_authentication_token`: a new token for this runner; the old one stops working. */
  async resetToken(token: string): Promise<ResetOutcome> {
    const what = "POST /api/v4/runners/reset_authentication_token";
    const answer = await this.#send("POST", "runners/reset_authentication_token", undefined, { token });
    if (typeof answer === "string") return { kind: "failed", problem: answer };
    if (answer.status === 403) return { kind: "refused" };
    if (answer.status !== 201) return { kind: "failed", problem: unexpectedStatus(what, answer) };
    const body = jsonObject(what, answer);
    if (typeof body === "string") return { kind: "failed", problem: body };
    if (typeof body.token !== "string" || !TOKEN.test(body.token))
      return {
        kind: "failed",
        problem: `GitLab answered ${what} without a usable token (expected printable ASCII without blanks)`,
      };
    const expires = expiry(what, body.token_expires_at);
    if (typeof expires === "string") return { kind: "failed", problem: expires };
    return { kind: "reset", token: body.token, tokenExpiresAt: expires.time };
  }

  /** `DELETE /runners`: deletes the runner itself (for every host that uses its token). */
  async deleteRunner(token: string): Promise<DeleteOutcome> {
    return this.#delete("runners", token, { token });
  }

  /** `DELETE /runners/managers`: deletes this host's runner manager only; the runner stays. */
  async deleteRunnerManager(token: string, systemId: string): Promise<DeleteOutcome> {
    return this.#delete("runners/managers", token, { token, system_id: systemId });
  }

  async #delete(path: string, token: string, body: Record<string, string>): Promise<DeleteOutcome> {
    const answer = await this.#send("DELETE", path, token, body);
    if (typeof answer === "string") return { kind: "failed", problem: answer };
    switch (answer.status) {
      case 204:
        return { kind: "deleted" };
      case 403:
        return { kind: "refused" };
      case 404:
        // GitLab's own "no such manager", not a 404 for a path this server does not have.
        if (path === "runners/managers" && /runner manager not found/i.test(answer.body))
          return { kind: "not_found" };
        return { kind: "failed", problem: unexpectedStatus(`DELETE /api/v4/${path}`, answer) };
      default:
        return { kind: "failed", problem: unexpectedStatus(`DELETE /api/v4/${path}`, answer) };
    }
  }

  /** One exchange; the answer, or one sentence saying why there is none. */
  async #send(
    method: "POST" | "DELETE",
    path: string,
    runnerToken: string | undefined,
    json: unknown,
  ): Promise<Answer | string> {
    const headers: Record<string, string> = {
      "User-Agent": USER_AGENT,
      Accept: "application/json",
      "Content-Type": "application/json",
      "X-Request-Id": newRequestId(),
    };
    if (runnerToken !== undefined) headers[RUNNER_TOKEN_HEADER] = runnerToken;
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    try {
      const response = await fetch(this.#base + path, {
        method,
        headers,
        body: JSON.stringify(json),
        signal: timeout,
        redirect: "follow",
      });
      return { status: response.status, body: await response.text() };
    } catch (err) {
      return describeTransportError(err, this.#base, this.#timeoutMs, timeout);
    }
  }
}

function unexpectedStatus(what: string, answer: Answer): string {
  return `GitLab answered ${answer.status} to ${what}${snippet(answer.body)}`;
}

/** The answer's body as a JSON object, or a sentence saying why it is not one. */
function jsonObject(what: string, answer: Answer): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = JSON.parse(answer.body);
  } catch {
    return `GitLab answered ${answer.status} to ${what} with a body that is not JSON${snippet(answer.body)}`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return `GitLab answered ${answer.status} to ${what} with JSON that is not an object${snippet(answer.body)}`;
  return value as Record<string, unknown>;
}

/** `token_expires_at`: null or absent for "never", else an ISO 8601 date-time. */
function expiry(what: string, value: unknown): { time: Date | undefined } | string {
  if (value === null || value === undefined) return { time: undefined };
  const time = typeof value === "string" ? parseRfc3339(value) : undefined;
  if (time === undefined)
    return `GitLab answered ${what} with a token_expires_at that is not a date-time: ${shown(value)}`;
  // Go's zero time, in case a proxy or an older GitLab sends it for "never".
  return { time: time.getTime() === Date.parse(GO_ZERO_TIME) ? undefined : time };
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
