/**
 * GitLab's job artifacts API, as gitlab-runner's client calls it (network/gitlab.go
 * UploadRawArtifacts, DownloadArtifacts), for drover's helper commands (src/helper/):
 *
 *   POST /api/v4/jobs/:id/artifacts?artifact_format=&artifact_type=&expire_in=
 *        multipart form, the archive in the field `file` named after the artifact; JOB-TOKEN header
 *   GET  /api/v4/jobs/:id/artifacts?direct_download=true|false      JOB-TOKEN header
 *
 * Each call ends in one state that says whether trying again can help; the helpers decide the
 * retries (as gitlab-runner's artifacts-uploader and -downloader do). A download's redirects are
 * followed here, and the job token is never sent to another origin than the one it was meant for
 * (a direct download from object storage is a pre-signed URL that needs none); an upload's
 * (GitLab moved) is the uploader's to follow, as gitlab-runner does. Only http and https are
 * followed, never from https down to http (redirectTarget).
 */
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { redirectTarget } from "../net/redirect-target.ts";
import { newRequestId } from "./http.ts";

export type UploadState =
  | { kind: "succeeded"; status: string }
  /** GitLab moved (`307`/`308`): `location` is the origin to upload to instead (http or https, never a downgrade). */
  | { kind: "redirected"; location: string; status: string }
  | { kind: "forbidden"; status: string; message: string }
  | { kind: "too_large"; status: string; message: string }
  | { kind: "service_unavailable"; status: string; message: string }
  | { kind: "failed"; status: string; message: string };

export type DownloadState =
  | { kind: "succeeded"; status: string; bytes: number }
  | { kind: "forbidden" | "unauthorized" | "not_found"; status: string; message: string }
  | { kind: "failed"; status: string; message: string };

export interface UploadOptions {
  /** The runner's GitLab URL (`url` in config.toml), without /api/v4. */
  url: string;
  jobId: string;
  token: string;
  /** The archive on disk. */
  file: string;
  /** The name GitLab stores it under: `<name>.zip`, `<name>.gz`, or the raw file's. */
  baseName: string;
  format: string;
  type: string;
  expireIn: string;
}

const REQUEST_TIMEOUT_MS = 60 * 60 * 1000;

export async function uploadArtifacts(options: UploadOptions): Promise<UploadState> {
  const query = new URLSearchParams();
  if (options.expireIn) query.set("expire_in", options.expireIn);
  if (options.format) query.set("artifact_format", options.format);
  if (options.type) query.set("artifact_type", options.type);
  const form = new FormData();
  // The file is read from disk as the request goes: an archive of gigabytes is never in memory.
  form.append("file", Bun.file(options.file), options.baseName);
  const requestUrl = new URL(apiUrl(options.url, `jobs/${options.jobId}/artifacts?${query}`));
  let response: Response;
  try {
    response = await fetch(requestUrl, {
      method: "POST",
      headers: { "JOB-TOKEN": options.token, "X-Request-Id": newRequestId() },
      body: form,
      redirect: "manual",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    return { kind: "failed", status: "no answer", message: errorText(err) };
  }
  const status = `${response.status} ${response.statusText}`.trim();
  const message = await responseMessage(response);
  switch (response.status) {
    case 201:
      return { kind: "succeeded", status };
    case 307:
    case 308: {
      const location = redirectTarget(response.headers.get("location"), requestUrl);
      if (typeof location === "string") return { kind: "failed", status, message: location };
      return { kind: "redirected", location: location.origin, status };
    }
    case 403:
      return { kind: "forbidden", status, message };
    case 413:
      return { kind: "too_large", status, message };
    case 503:
      return { kind: "service_unavailable", status, message };
    default:
      return { kind: "failed", status, message };
  }
}

export interface DownloadOptions {
  url: string;
  jobId: string;
  token: string;
  /** Where the archive goes. */
  file: string;
  /** GitLab's direct_download: answered with a redirect to object storage when GitLab has one. */
  directDownload: boolean;
}

/** Redirects followed at most: GitLab gives one (to object storage). */
const MAX_REDIRECTS = 5;

export async function downloadArtifacts(options: DownloadOptions): Promise<DownloadState> {
  let target = new URL(
    apiUrl(options.url, `jobs/${options.jobId}/artifacts?direct_download=${options.directDownload}`),
  );
  const origin = target.origin;
  let response: Response | undefined;
  try {
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      response = await fetch(target, {
        // Only to GitLab itself: a pre-signed object storage URL gets no job token.
        headers:
          target.origin === origin ? { "JOB-TOKEN": options.token, "X-Request-Id": newRequestId() } : {},
        redirect: "manual",
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      if (response.status >= 300 && response.status < 400 && response.headers.has("location")) {
        await response.body?.cancel();
        const next = redirectTarget(response.headers.get("location"), target);
        const status = `${response.status} ${response.statusText}`.trim();
        if (typeof next === "string") return { kind: "failed", status, message: next };
        target = next;
        continue;
      }
      break;
    }
  } catch (err) {
    return { kind: "failed", status: "no answer", message: errorText(err) };
  }
  if (response === undefined) return { kind: "failed", status: "no answer", message: "no response" };
  const status = `${response.status} ${response.statusText}`.trim();
  if (response.status >= 300 && response.status < 400) {
    return { kind: "failed", status, message: `more than ${MAX_REDIRECTS} redirects` };
  }
  switch (response.status) {
    case 200: {
      if (!response.body) return { kind: "failed", status, message: "an empty answer" };
      try {
        await pipeline(
          Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>),
          createWriteStream(options.file, { mode: 0o600 }),
        );
      } catch (err) {
        return { kind: "failed", status, message: errorText(err) };
      }
      return { kind: "succeeded", status, bytes: Bun.file(options.file).size };
    }
    case 401:
      return { kind: "unauthorized", status, message: await responseMessage(response) };
    case 403:
      return { kind: "forbidden", status, message: await responseMessage(response) };
    case 404:
      return { kind: "not_found", status, message: await responseMessage(response) };
    default:
      return { kind: "failed", status, message: await responseMessage(response) };
  }
}

/** `<url>/api/v4/<path>`, whatever slashes `url` ends with. */
function apiUrl(url: string, path: string): string {
  return `${url.replace(/\/+$/, "")}/api/v4/${path}`;
}

/** GitLab's `{"message": ...}` (or the first line of whatever came), short. */
async function responseMessage(response: Response): Promise<string> {
  let text = "";
  try {
    text = (await response.text()).slice(0, 2000);
  } catch {
    return "";
  }
  try {
    const parsed = JSON.parse(text) as { message?: unknown; error?: unknown };
    const message = parsed.message ?? parsed.error;
    if (message !== undefined) return typeof message === "string" ? message : JSON.stringify(message);
  } catch {
    // not JSON
  }
  return text.split("\n")[0]?.trim().slice(0, 200) ?? "";
}

function errorText(err: unknown): string {
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code ?? (err instanceof Error ? err.message : String(err));
}
