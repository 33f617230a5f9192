/**
 * `POST /api/v4/jobs/request`: ask the coordinator for a job for one runner (GitLab Runner's
 * `RequestJob`). 201 carries a job, 204 means none now, 403 means GitLab does not accept the
 * runner's token (deleted, wrong, or not yet valid again): the runner becomes unhealthy and asks
 * again after `unhealthy_interval` (src/daemon/health.ts).
 */
import type { RunnerConfig } from "../config/model.ts";
import { type CoordinatorHttp, type FailedExchange, failedExchange, RUNNER_TOKEN_HEADER } from "./http.ts";
import { type JobRequestBody, versionInfo } from "./payload.ts";

/** A job as the coordinator sent it: the raw payload, and the two fields every later call needs. */
export interface ReceivedJob {
  id: number;
  /** The job token: authenticates the trace and update calls of this job. */
  token: string;
  payload: Record<string, unknown>;
}

export type RequestOutcome =
  | { kind: "job"; job: ReceivedJob }
  | { kind: "none" }
  | { kind: "forbidden"; requestId: string }
  /** No answer (down, DNS, timeout): back off; counts against the runner's health (daemon/health.ts). */
  | ({ kind: "unreachable" } & FailedExchange)
  /** 5xx, or an answer drover cannot use: back off (or wait as GitLab asked) and ask again. */
  | ({ kind: "failed" } & FailedExchange);

/** Long-polling GitLab holds a request up to ~50 s before answering 204; leave room above that. */
export const REQUEST_TIMEOUT_MS = 90_000;

export class JobRequester {
  readonly #http: CoordinatorHttp;
  /** `X-GitLab-Last-Update` of the previous answer, sent back so GitLab can long-poll. */
  #lastUpdate: string | undefined;

  constructor(http: CoordinatorHttp) {
    this.#http = http;
  }

  async request(runner: RunnerConfig, token: string, signal?: AbortSignal): Promise<RequestOutcome> {
    const body: JobRequestBody = {
      info: versionInfo(runner),
      token,
      ...(runner.systemId === undefined ? {} : { system_id: runner.systemId }),
      ...(this.#lastUpdate === undefined ? {} : { last_update: this.#lastUpdate }),
    };
    const answer = await this.#http.exchange("request_job", {
      method: "POST",
      path: "jobs/request",
      json: body,
      // As GitLab Runner: the token in the body (what GitLab reads) and in the RUNNER-TOKEN header.
      headers: { [RUNNER_TOKEN_HEADER]: token },
      timeoutMs: REQUEST_TIMEOUT_MS,
      ...(signal === undefined ? {} : { signal }),
    });
    if (!answer.ok) return { kind: "unreachable", ...failedExchange(answer) };
    const lastUpdate = answer.headers.get("X-GitLab-Last-Update");
    if (lastUpdate) this.#lastUpdate = lastUpdate;
    switch (answer.status) {
      case 201: {
        const received = receivedJob(answer.body);
        return "problem" in received
          ? { kind: "failed", ...failedExchange(answer, received.problem) }
          : received;
      }
      case 204:
        return { kind: "none" };
      case 403:
        return { kind: "forbidden", requestId: answer.requestId };
      default:
        return {
          kind: "failed",
          ...failedExchange(answer, `the coordinator answered ${answer.status}${snippet(answer.body)}`),
        };
    }
  }
}

/**
 * A 201's body. Only what is needed to report on the job is checked here (an object with a numeric
 * `id` and a string `token`): the rest is the job parser's business, and a job it rejects is still
 * reported to GitLab as failed. A body without them cannot be reported at all: it counts as a
 * garbled answer.
 */
function receivedJob(body: string): { kind: "job"; job: ReceivedJob } | { problem: string } {
  let payload: unknown;
  try {
    payload = JSON.parse(body);
  } catch {
    return { problem: `the coordinator answered 201 with a body that is not JSON${snippet(body)}` };
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload))
    return { problem: "the coordinator answered 201 with a body that is not a JSON object" };
  const { id, token } = payload as { id?: unknown; token?: unknown };
  if (
    typeof id !== "number" ||
    !Number.isSafeInteger(id) ||
    id < 0 ||
    typeof token !== "string" ||
    token === ""
  )
    return {
      problem:
        "the coordinator answered 201 with a job that has no numeric id or no token: it cannot be run or reported",
    };
  return { kind: "job", job: { id, token, payload: payload as Record<string, unknown> } };
}

/** The start of an error body, for the log: GitLab's 5xx pages say what broke. */
export function snippet(body: string): string {
  const text = body.replace(/\s+/g, " ").trim();
  if (text === "") return "";
  return `: ${text.length > 120 ? `${text.slice(0, 120)}…` : text}`;
}
