/**
 * `POST /api/v4/jobs/request`: ask the coordinator for a job for one runner (GitLab Runner's
 * `RequestJob`). 201 carries a job, 204 means none now, 403 means the runner's token is not
 * valid (the runner was deleted or the token is wrong: asking again cannot help).
 */
import type { RunnerConfig } from "../config/model.ts";
import type { CoordinatorHttp } from "./http.ts";
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
  | { kind: "forbidden" }
  /** Down, slow, 5xx, or an answer drover cannot use: back off and ask again. */
  | { kind: "failed"; problem: string };

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
      ...(this.#lastUpdate === undefined ? {} : { last_update: this.#lastUpdate }),
    };
    const answer = await this.#http.exchange("request_job", {
      method: "POST",
      path: "jobs/request",
      json: body,
      timeoutMs: REQUEST_TIMEOUT_MS,
      ...(signal === undefined ? {} : { signal }),
    });
    if (!answer.ok) return { kind: "failed", problem: answer.problem };
    const lastUpdate = answer.headers.get("X-GitLab-Last-Update");
    if (lastUpdate) this.#lastUpdate = lastUpdate;
    switch (answer.status) {
      case 201:
        return receivedJob(answer.body);
      case 204:
        return { kind: "none" };
      case 403:
        return { kind: "forbidden" };
      default:
        return {
          kind: "failed",
          problem: `the coordinator answered ${answer.status}${snippet(answer.body)}`,
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
function receivedJob(body: string): RequestOutcome {
  let payload: unknown;
  try {
    payload = JSON.parse(body);
  } catch {
    return {
      kind: "failed",
      problem: `the coordinator answered 201 with a body that is not JSON${snippet(body)}`,
    };
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload))
    return { kind: "failed", problem: "the coordinator answered 201 with a body that is not a JSON object" };
  const { id, token } = payload as { id?: unknown; token?: unknown };
  if (
    typeof id !== "number" ||
    !Number.isSafeInteger(id) ||
    id < 0 ||
    typeof token !== "string" ||
    token === ""
  )
    return {
      kind: "failed",
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
