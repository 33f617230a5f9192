/**
 * What src/coordinator/runners-api.ts makes of answers GitLab does not document: each is a failure
 * with one sentence saying what was wrong, never a half-read success. A real HTTP server on
 * 127.0.0.1 answers each request with a scripted status and body.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { defaultRunner } from "../../src/config/model.ts";
import { versionInfo } from "../../src/coordinator/payload.ts";
import { RunnersApi } from "../../src/coordinator/runners-api.ts";

const answers: Array<{ status: number; body: string }> = [];
const seen: Array<{ method: string; path: string; headers: Headers; body: string }> = [];
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    seen.push({
      method: req.method,
      path: new URL(req.url).pathname,
      headers: req.headers,
      body: await req.text(),
    });
    const answer = answers.shift() ?? { status: 500, body: "no answer scripted" };
    return new Response(answer.status === 204 ? null : answer.body, { status: answer.status });
  },
});
afterAll(() => server.stop(true));

const api = new RunnersApi(`http://127.0.0.1:${server.port}/`);
const info = versionInfo(defaultRunner());

function answer(status: number, body: unknown): void {
  answers.push({ status, body: typeof body === "string" ? body : JSON.stringify(body) });
}

describe("verify", () => {
  test("GitLab's answer: the runner's id and the token's expiry; the request as GitLab Runner sends it", async () => {
    answer(200, { id: 42, token: "glrt-x", token_expires_at: "2031-01-02T03:04:05.678Z" });
    expect(await api.verify("glrt-x", "s_0123456789ab", info)).toEqual({
      kind: "valid",
      runnerId: 42,
      tokenExpiresAt: new Date("2031-01-02T03:04:05.678Z"),
    });
    const request = seen.at(-1);
    expect(request?.path).toBe("/api/v4/runners/verify");
    expect(request?.headers.get("runner-token")).toBe("glrt-x");
    expect(request?.headers.get("x-request-id")).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.parse(request?.body ?? "")).toEqual({ info, token: "glrt-x", system_id: "s_0123456789ab" });

    answer(200, { id: 42, token: "glrt-x", token_expires_at: null });
    expect(await api.verify("glrt-x", undefined, info)).toEqual({
      kind: "valid",
      runnerId: 42,
      tokenExpiresAt: undefined,
    });
    answer(200, "200");
    expect(await api.verify("glrt-x", undefined, info)).toEqual({
      kind: "valid",
      runnerId: undefined,
      tokenExpiresAt: undefined,
    });
    answer(403, { message: "403 Forbidden" });
    expect(await api.verify("glrt-x", undefined, info)).toEqual({ kind: "refused" });
  });

  test("answers that are not GitLab's", async () => {
    answer(200, { id: "42" });
    expect(await api.verify("t", undefined, info)).toEqual({
      kind: "failed",
      problem:
        'GitLab answered POST /api/v4/runners/verify with a runner id that is not a positive integer: "42"',
    });
    answer(200, { id: 42, token_expires_at: "next week" });
    expect(await api.verify("t", undefined, info)).toEqual({
      kind: "failed",
      problem:
        'GitLab answered POST /api/v4/runners/verify with a token_expires_at that is not a date-time: "next week"',
    });
    answer(200, [1, 2]);
    expect(await api.verify("t", undefined, info)).toEqual({
      kind: "failed",
      problem: "GitLab answered 200 to POST /api/v4/runners/verify with JSON that is not an object: [1,2]",
    });
    answer(502, "<html>Bad Gateway</html>");
    expect(await api.verify("t", undefined, info)).toEqual({
      kind: "failed",
      problem: "GitLab answered 502 to POST /api/v4/runners/verify: <html>Bad Gateway</html>",
    });
  });
});

describe("reset_authentication_token", () => {
  test("201 with a new token; the request has the token in the body only, as GitLab Runner sends it", async () => {
    answer(201, { token: "glrt-new", token_expires_at: "2031-01-02T03:04:05.000Z" });
    expect(await api.resetToken("glrt-old")).toEqual({
      kind: "reset",
      token: "glrt-new",
      tokenExpiresAt: new Date("2031-01-02T03:04:05Z"),
    });
    expect(seen.at(-1)?.headers.get("runner-token")).toBeNull();
    expect(JSON.parse(seen.at(-1)?.body ?? "")).toEqual({ token: "glrt-old" });
  });

  test("a token that cannot be one, or none, is a failure", async () => {
    for (const body of [{ token: "glrt new" }, { token: "" }, { token_expires_at: null }, { token: 7 }]) {
      answer(201, body);
      expect(await api.resetToken("glrt-old")).toEqual({
        kind: "failed",
        problem:
          "GitLab answered POST /api/v4/runners/reset_authentication_token without a usable token (expected printable ASCII without blanks)",
      });
    }
    answer(200, { token: "glrt-new" }); // GitLab answers 201
    expect((await api.resetToken("glrt-old")).kind).toBe("failed");
  });
});

describe("delete", () => {
  test('204, 403; a 404 is "no such manager" only when GitLab says so', async () => {
    answers.push({ status: 204, body: "" });
    expect(await api.deleteRunner("glrt-x")).toEqual({ kind: "deleted" });
    expect(seen.at(-1)?.method).toBe("DELETE");
    answer(403, { message: "403 Forbidden" });
    expect(await api.deleteRunnerManager("glrt-x", "s_0123456789ab")).toEqual({ kind: "refused" });
    answer(404, { message: "404 Runner manager not found" });
    expect(await api.deleteRunnerManager("glrt-x", "s_0123456789ab")).toEqual({ kind: "not_found" });
    answer(404, { error: "404 Not Found" });
    expect(await api.deleteRunnerManager("glrt-x", "s_0123456789ab")).toEqual({
      kind: "failed",
      problem: 'GitLab answered 404 to DELETE /api/v4/runners/managers: {"error":"404 Not Found"}',
    });
  });
});
