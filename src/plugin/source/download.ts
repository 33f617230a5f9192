/**
 * Downloads a plugin source (a tarball, a registry's package document) into memory: http and https
 * only, redirects followed (at most MAX_REDIRECTS, never to another scheme), at most MAX_BYTES,
 * within DOWNLOAD_TIMEOUT_MS. Every failure is one line naming the URL.
 */
import { redirectTarget } from "../../net/redirect-target.ts";

export const MAX_BYTES = 256 * 1024 * 1024;
export const DOWNLOAD_TIMEOUT_MS = 120_000;

export class DownloadError extends Error {}

export interface DownloadOptions {
  headers?: Record<string, string>;
  /** A bearer token, sent only to URLs of this origin (a private registry's, never a redirect's elsewhere). */
  auth?: { origin: string; token: string };
}

export async function download(url: string, options: DownloadOptions = {}): Promise<Uint8Array> {
  let first: URL;
  try {
    first = new URL(url);
  } catch {
    throw new DownloadError(`${JSON.stringify(url)} is not a URL`);
  }
  // A registry's document may name any URL as a tarball: file:// would read this host's files.
  if (first.protocol !== "https:" && first.protocol !== "http:")
    throw new DownloadError(`${url}: only https:// and http:// are fetched`);
  const headers: Record<string, string> = { "User-Agent": "drover", ...options.headers };
  if (options.auth && first.origin === options.auth.origin)
    headers.Authorization = `Bearer ${options.auth.token}`;
  // One bound for the whole download, redirects and body included.
  const signal = AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS);
  let response: Response;
  try {
    // Manual redirects: the token must not follow one to another origin, nor a fetch to another scheme.
    response = await fetchFollowing(url, headers, options, signal);
  } catch (err) {
    if (err instanceof DownloadError) throw err;
    throw new DownloadError(`cannot download ${url}: ${describeFetchError(err)}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new DownloadError(`${url} answered ${response.status} ${response.statusText}`.trimEnd());
  }
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > MAX_BYTES) {
    await response.body?.cancel();
    throw new DownloadError(`${url} is ${declared} bytes, more than the ${MAX_BYTES / 2 ** 20} MiB accepted`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body?.getReader();
  try {
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > MAX_BYTES) {
        await reader.cancel();
        throw new DownloadError(`${url} is more than the ${MAX_BYTES / 2 ** 20} MiB accepted`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof DownloadError) throw err;
    throw new DownloadError(`downloading ${url} failed: ${describeFetchError(err)}`);
  }
  return Buffer.concat(chunks);
}

const MAX_REDIRECTS = 5;

async function fetchFollowing(
  url: string,
  headers: Record<string, string>,
  options: DownloadOptions,
  signal: AbortSignal,
): Promise<Response> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const response = await fetch(current, { headers, redirect: "manual", signal });
    const location = response.headers.get("location");
    if (response.status < 300 || response.status >= 400 || location === null) return response;
    await response.body?.cancel();
    if (hop >= MAX_REDIRECTS) throw new DownloadError(`${url}: more than ${MAX_REDIRECTS} redirects`);
    const next = redirectTarget(location, new URL(current));
    if (typeof next === "string") throw new DownloadError(`${url}: ${next}`);
    if (options.auth && next.origin !== options.auth.origin) delete headers.Authorization;
    current = next.href;
  }
}

function describeFetchError(err: unknown): string {
  const error = err as Error & { code?: string };
  if (error.name === "TimeoutError") return `no answer within ${DOWNLOAD_TIMEOUT_MS / 1000} s`;
  if (error.code === "ConnectionRefused" || error.code === "ECONNREFUSED") return "connection refused";
  return error.code ? `${error.code}: ${error.message}` : error.message;
}
