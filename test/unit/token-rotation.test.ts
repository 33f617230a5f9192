/**
 * Token rotation in `drover run` (src/daemon/token-rotation.ts): GitLab Runner's timing (75% of
 * the token's lifetime), the new token handed over at once and written back, the opt-out flag,
 * retries after a failure, and a write-back that fails.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import pino from "pino";
import { checkConfigText } from "../../src/config/check.ts";
import type { Config } from "../../src/config/model.ts";
import type { ResetOutcome } from "../../src/coordinator/runners-api.ts";
import {
  type TokenChange,
  TokenRotation,
  tokenResetTime,
  withRotatedToken,
} from "../../src/daemon/token-rotation.ts";
import { type TempDir, tempDir, waitFor } from "../harness.ts";

const URL_ = "https://gitlab.example.com";
const DAY = 24 * 3600_000;

function configText(obtained: string, expires: string, extra = ""): string {
  return `# our runner
[[runners]]
  name = "a"   # the only one
  url = "${URL_}"
  token = "glrt-old"
  token_obtained_at = ${obtained}
  token_expires_at = ${expires}
${extra}`;
}

function configOf(text: string, file: string): Config {
  const { config, problems } = checkConfigText(text, file);
  if (config === undefined) throw new Error(problems.map((p) => p.message).join("; "));
  return config;
}

/** A TokenRotation over a config file in `dir`, with a scripted API; what it logged and handed over. */
function rotation(dir: TempDir, text: string, answers: ResetOutcome[]) {
  const file = dir.file("config.toml", text, 0o600);
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const calls: Array<{ url: string; token: string }> = [];
  const changes: TokenChange[] = [];
  const tokens = new TokenRotation({
    configFile: file,
    logger,
    onRotated: (change) => changes.push(change),
    api: (url) => ({
      resetToken: async (token) => {
        calls.push({ url, token });
        return answers.shift() ?? { kind: "failed", problem: "no more answers" };
      },
    }),
    retry: { initialMs: 5, maxMs: 5 },
  });
  return { file, logs, calls, changes, tokens, config: configOf(text, file) };
}

describe("when a token is reset", () => {
  test("at 75% of its lifetime (GitLab Runner's TokenResetIntervalFactor)", () => {
    expect(
      tokenResetTime({
        tokenObtainedAt: new Date("2024-01-01T00:00:00Z"),
        tokenExpiresAt: new Date("2024-01-05T00:00:00Z"),
      }),
    ).toBe(Date.parse("2024-01-04T00:00:00Z"));
    // Never expires: never reset. Obtained unknown: at once.
    expect(tokenResetTime({ tokenObtainedAt: new Date() })).toBeUndefined();
    expect(tokenResetTime({ tokenExpiresAt: new Date("2030-01-01T00:00:00Z") })).toBe(
      Number.NEGATIVE_INFINITY,
    );
  });
});

describe("TokenRotation", () => {
  test("a token past 75% of its life is reset at once, handed over and written back; the new one is planned for later", async () => {
    using dir = tempDir();
    const obtained = new Date(Date.now() - 8 * DAY).toISOString();
    const expires = new Date(Date.now() + 2 * DAY).toISOString();
    const newExpiry = new Date(Date.now() + 30 * DAY);
    const r = rotation(dir, configText(obtained, expires), [
      { kind: "reset", token: "glrt-new", tokenExpiresAt: newExpiry },
    ]);
    r.tokens.plan(r.config);
    await waitFor("the new token handed over", () => r.changes.length === 1);
    expect(r.calls).toEqual([{ url: URL_, token: "glrt-old" }]);
    const change = r.changes[0];
    expect(change).toMatchObject({
      url: URL_,
      oldToken: "glrt-old",
      token: "glrt-new",
      expiresAt: newExpiry,
    });
    expect(Math.abs((change?.obtainedAt.getTime() ?? 0) - Date.now())).toBeLessThan(5_000);
    expect(readFileSync(r.file, "utf8")).toBe(
      configText(
        (change?.obtainedAt.toISOString() ?? "").replace(".000Z", "Z"),
        newExpiry.toISOString(),
      ).replace('"glrt-old"', '"glrt-new"'),
    );
    // The daemon swaps the token in and plans again: the new token is not due for weeks.
    const next = withRotatedToken(r.config, change as TokenChange);
    expect(next.runners[0]).toMatchObject({ token: "glrt-new", tokenExpiresAt: newExpiry });
    r.tokens.plan(next);
    await Bun.sleep(50);
    expect(r.calls.length).toBe(1);
    await r.tokens.stop();
    expect(r.logs.map((l) => l.msg)).toEqual([
      "resetting the runner's authentication token before it expires",
      "the runner's authentication token was reset: using the new one",
      "the new runner token was written to the config file",
    ]);
  });

  test("a token not yet due, or one that never expires, is left alone", async () => {
    using dir = tempDir();
    const soon = rotation(
      dir,
      configText(new Date().toISOString(), new Date(Date.now() + 400 * DAY).toISOString()),
      [],
    );
    soon.tokens.plan(soon.config);
    const never = rotation(dir, configText(new Date().toISOString(), "0001-01-01T00:00:00Z"), []);
    never.tokens.plan(never.config);
    await Bun.sleep(50);
    expect([soon.calls, never.calls]).toEqual([[], []]);
    await Promise.all([soon.tokens.stop(), never.tokens.stop()]);
  });

  test("FF_DISABLE_AUTOMATIC_TOKEN_ROTATION: a warning instead of a reset", async () => {
    using dir = tempDir();
    const text = configText(
      "2024-01-01T00:00:00Z",
      "2024-01-02T00:00:00Z",
      "  [runners.feature_flags]\n    FF_DISABLE_AUTOMATIC_TOKEN_ROTATION = true\n",
    );
    const r = rotation(dir, text, []);
    r.tokens.plan(r.config);
    await waitFor("the warning", () => r.logs.length > 0);
    expect(r.logs[0]).toMatchObject({
      level: 40,
      runner: "a",
      expiresAt: "2024-01-02T00:00:00Z",
      msg: expect.stringContaining(
        "automatic token rotation is disabled (FF_DISABLE_AUTOMATIC_TOKEN_ROTATION)",
      ),
    });
    expect(r.calls).toEqual([]);
    expect(readFileSync(r.file, "utf8")).toBe(text);
    await r.tokens.stop();
  });

  test("a failed reset is tried again after a pause; garbage from GitLab is a failure, not a token", async () => {
    using dir = tempDir();
    const r = rotation(dir, configText("2024-01-01T00:00:00Z", "2099-01-02T00:00:00Z"), [
      { kind: "refused" },
      {
        kind: "failed",
        problem:
          "GitLab answered 201 to POST /api/v4/runners/reset_authentication_token with a body that is not JSON",
      },
      { kind: "reset", token: "glrt-new", tokenExpiresAt: undefined },
    ]);
    // Obtained 2024, expires 2099: 75% of the way is 2080, still ahead.
    r.tokens.plan(r.config);
    await Bun.sleep(30);
    expect(r.calls).toEqual([]);
    await r.tokens.stop();

    const due = rotation(dir, configText("2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"), [
      { kind: "refused" },
      {
        kind: "failed",
        problem:
          "GitLab answered 201 to POST /api/v4/runners/reset_authentication_token with a body that is not JSON",
      },
      { kind: "reset", token: "glrt-new", tokenExpiresAt: undefined },
    ]);
    due.tokens.plan(due.config);
    await waitFor("the third attempt's token", () => due.changes.length === 1);
    expect(due.calls.length).toBe(3);
    expect(due.logs.filter((l) => l.level === 50).map((l) => l.problem)).toEqual([
      "GitLab refused the current token (403 Forbidden): it expired or was reset elsewhere (another host sharing it?)",
      "GitLab answered 201 to POST /api/v4/runners/reset_authentication_token with a body that is not JSON",
    ]);
    // Never expires now: Go's zero time in the file.
    expect(readFileSync(due.file, "utf8")).toContain("token_expires_at = 0001-01-01T00:00:00Z\n");
    await due.tokens.stop();
  });

  test("a write-back that fails: the new token is still used, and a reload of the old file keeps it", async () => {
    using dir = tempDir();
    const r = rotation(dir, configText("2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"), [
      { kind: "reset", token: "glrt-new", tokenExpiresAt: new Date(Date.now() + 30 * DAY) },
    ]);
    // Someone edits the runner's token meanwhile: the write-back finds no runner with the old token.
    const edited = readFileSync(r.file, "utf8").replace("glrt-old", "glrt-hand-edited");
    writeFileSync(r.file, edited);
    r.tokens.plan(r.config);
    await waitFor("the new token handed over", () => r.changes.length === 1);
    await r.tokens.stop();
    expect(readFileSync(r.file, "utf8")).toBe(edited);
    expect(r.logs.at(-1)).toMatchObject({
      level: 50,
      msg: expect.stringContaining("the new runner token could not be written to the config file"),
      err: expect.objectContaining({ message: expect.stringContaining("the old token any more") }),
    });
    // A reload that still reads the old token (the edit is undone) gets the new one, and the file is written.
    writeFileSync(r.file, edited.replace("glrt-hand-edited", "glrt-old"));
    const reloaded = r.tokens.current(configOf(readFileSync(r.file, "utf8"), r.file));
    expect(reloaded.runners[0]?.token).toBe("glrt-new");
    expect(readFileSync(r.file, "utf8")).toContain('token = "glrt-new"');
  });
});
