/**
 * `drover run` rotating runner tokens before they expire, as GitLab Runner's `run` does
 * (commands/multi.go `resetRunnerTokens`, common/reset_token.go, network/gitlab.go `ResetToken`):
 *
 *   when   a token with a `token_expires_at` is reset once 75% of its lifetime has passed:
 *          at `token_obtained_at + 0.75 × (token_expires_at − token_obtained_at)`
 *          (`TokenResetIntervalFactor`); at once when that time has passed or `token_obtained_at`
 *          is not known. A token that never expires is never reset.
 *   how    `POST /api/v4/runners/reset_authentication_token` with the current token; GitLab answers
 *          201 with the new token and its expiry, and the old token stops working.
 *   then   the new token is used at once (`onRotated`: the daemon swaps it into its configuration
 *          and its job requests), and written back to config.toml (`token`, `token_obtained_at`,
 *          `token_expires_at` of every section with the old token; the rest of the file as it was:
 *          config-edit.ts).
 *   opt-out  `FF_DISABLE_AUTOMATIC_TOKEN_ROTATION = true` in the runner's `[runners.feature_flags]`:
 *          no reset; a warning when the reset would have been due.
 *
 * Where drover differs: a reset that fails is tried again with a growing pause (10 s up to 10 min;
 * GitLab Runner tries again at once, in a loop), and each runner is looked after on its own (GitLab
 * Runner's loop stops for all runners at the first one with the opt-out flag). A new token that
 * cannot be written back (a read-only file, a file edited meanwhile) is still used, the error is
 * logged, and the write is tried again on every reload: a reload that reads the old token from the
 * file keeps the new one.
 */

import { editConfigFile } from "../config/config-edit.ts";
import type { Config, RunnerConfig } from "../config/model.ts";
import { type TokenChange, writeRotatedToken } from "../config/runner-edits.ts";
import { describeTokenTime } from "../config/token-time.ts";
import { Backoff, type BackoffOptions } from "../coordinator/backoff.ts";
import { type ResetOutcome, RunnersApi } from "../coordinator/runners-api.ts";
import type { Logger } from "../log/logger.ts";

export type { TokenChange } from "../config/runner-edits.ts";

/** GitLab Runner's `TokenResetIntervalFactor`. */
export const TOKEN_RESET_INTERVAL_FACTOR = 0.75;

/** Pauses between failed resets of one token: 10 s, doubling, at most 10 min. */
const RETRY: BackoffOptions = { initialMs: 10_000, maxMs: 600_000 };

/** setTimeout's longest delay (2^31−1 ms, 24.8 days): longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * When the runner's token is due for a reset (ms since the epoch); undefined when it never expires.
 *
 * @example
 * // obtained 2024-01-01, expires 2024-01-05 (4 days): reset on 2024-01-04
 * tokenResetTime({ tokenObtainedAt: new Date("2024-01-01T00:00:00Z"), tokenExpiresAt: new Date("2024-01-05T00:00:00Z") })
 */
export function tokenResetTime(
  runner: Pick<RunnerConfig, "tokenObtainedAt" | "tokenExpiresAt">,
): number | undefined {
  const expires = runner.tokenExpiresAt?.getTime();
  if (expires === undefined) return undefined;
  // Unknown: GitLab Runner computes from Go's zero time, a reset time centuries ago: at once.
  const obtained = runner.tokenObtainedAt?.getTime();
  if (obtained === undefined) return Number.NEGATIVE_INFINITY;
  return obtained + TOKEN_RESET_INTERVAL_FACTOR * (expires - obtained);
}

/** `config` with the new token (and its times) in every runner that had the old one. */
export function withRotatedToken(config: Config, change: TokenChange): Config {
  return {
    ...config,
    runners: config.runners.map((runner) => {
      if (runner.url !== change.url || runner.token !== change.oldToken) return runner;
      // The expiry is an optional key: a token that never expires has none (not `undefined`).
      const { tokenExpiresAt: _old, ...rest } = runner;
      return {
        ...rest,
        token: change.token,
        tokenObtainedAt: change.obtainedAt,
        ...(change.expiresAt === undefined ? {} : { tokenExpiresAt: change.expiresAt }),
      } as RunnerConfig;
    }),
  };
}

export interface TokenRotationOptions {
  /** The config file new tokens are written to; undefined (built-in configuration): not written. */
  configFile: string | undefined;
  logger: Logger;
  /** Each new token, as soon as GitLab gave it (before it is written back). */
  onRotated: (change: TokenChange) => void;
  /** For tests: the runners API of a coordinator URL; the clock; the pauses after failed resets. */
  api?: (url: string) => { resetToken(token: string): Promise<ResetOutcome> };
  now?: () => number;
  retry?: BackoffOptions;
}

interface Planned {
  due: number;
  timer: ReturnType<typeof setTimeout>;
}

export class TokenRotation {
  readonly #options: TokenRotationOptions;
  readonly #now: () => number;
  /** One planned reset per GitLab runner (url + token). */
  readonly #planned = new Map<string, Planned>();
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #failures = new Map<string, Backoff>();
  /** Rotations whose write-back has not succeeded yet, by the old url + token. */
  readonly #unwritten = new Map<string, TokenChange>();
  #runners: RunnerConfig[] = [];
  #stopped = false;

  constructor(options: TokenRotationOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Plans a reset for every runner of `config` whose token expires (the configuration in effect,
   * after start, a reload, a rotation); the plans of runners gone or changed are dropped.
   */
  plan(config: Config): void {
    if (this.#stopped) return;
    this.#runners = config.runners;
    const wanted = new Map<string, number>();
    for (const runner of config.runners) {
      if (!runner.url || !runner.token) continue;
      const due = tokenResetTime(runner);
      if (due === undefined) continue;
      const key = keyOf(runner.url, runner.token);
      wanted.set(key, Math.min(due, wanted.get(key) ?? Number.POSITIVE_INFINITY));
    }
    for (const [key, planned] of this.#planned) {
      const due = wanted.get(key);
      // Kept: the same plan, or the pause after a failed reset being waited out.
      if (due !== undefined && (due === planned.due || this.#failures.has(key))) continue;
      clearTimeout(planned.timer);
      this.#planned.delete(key);
    }
    for (const key of this.#failures.keys()) if (!wanted.has(key)) this.#failures.delete(key);
    for (const [key, due] of wanted) {
      if (!this.#planned.has(key) && !this.#inFlight.has(key)) this.#arm(key, due);
    }
  }

  /**
   * `config` with the tokens this daemon already rotated in place of the old ones it still names (a
   * reload of a file the write-back did not reach), and those write-backs tried again.
   */
  current(config: Config): Config {
    let out = config;
    for (const [key, change] of this.#unwritten) {
      if (
        !config.runners.some(
          (r) => r.url !== undefined && r.token !== undefined && keyOf(r.url, r.token) === key,
        )
      )
        continue;
      out = withRotatedToken(out, change);
      this.#writeBack(change);
    }
    return out;
  }

  /** No more resets; waits for one under way to finish and be written back. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const planned of this.#planned.values()) clearTimeout(planned.timer);
    this.#planned.clear();
    await Promise.all(this.#inFlight.values());
  }

  #arm(key: string, due: number): void {
    const delay = Math.max(0, due - this.#now());
    const timer = setTimeout(
      () => {
        this.#planned.delete(key);
        if (this.#stopped) return;
        if (due > this.#now()) return this.#arm(key, due); // a long wait, taken in steps
        const runner = this.#runners.find(
          (r) => r.url !== undefined && r.token !== undefined && keyOf(r.url, r.token) === key,
        );
        if (runner?.url === undefined || runner.token === undefined) return;
        const reset = this.#reset(key, runner, runner.url, runner.token).finally(() =>
          this.#inFlight.delete(key),
        );
        this.#inFlight.set(key, reset);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    timer.unref?.();
    this.#planned.set(key, { due, timer });
  }

  async #reset(key: string, runner: RunnerConfig, url: string, token: string): Promise<void> {
    const logger = this.#options.logger.child({ runner: runner.name });
    const expiresAt = describeTokenTime(runner.tokenExpiresAt);
    if (runner.featureFlags.FF_DISABLE_AUTOMATIC_TOKEN_ROTATION === true) {
      logger.warn(
        { expiresAt },
        "automatic token rotation is disabled (FF_DISABLE_AUTOMATIC_TOKEN_ROTATION): the runner's token expires soon; reset it in GitLab and put the new one in config.toml",
      );
      return;
    }
    logger.info({ expiresAt }, "resetting the runner's authentication token before it expires");
    const api = this.#options.api?.(url) ?? new RunnersApi(url);
    const outcome = await api.resetToken(token);
    if (outcome.kind !== "reset") {
      const backoff = this.#failures.get(key) ?? new Backoff(this.#options.retry ?? RETRY);
      this.#failures.set(key, backoff);
      const retryInMs = backoff.next();
      const problem =
        outcome.kind === "refused"
          ? "GitLab refused the current token (403 Forbidden): it expired or was reset elsewhere (another host sharing it?)"
          : outcome.problem;
      logger.error(
        { url, problem, expiresAt, retryInMs },
        "resetting the runner's authentication token failed; will retry",
      );
      if (!this.#stopped) this.#arm(key, this.#now() + retryInMs);
      return;
    }
    this.#failures.delete(key);
    const change: TokenChange = {
      url,
      oldToken: token,
      token: outcome.token,
      // GitLab Runner stamps the time the new token arrived.
      obtainedAt: new Date(Math.floor(this.#now() / 1000) * 1000),
      expiresAt: outcome.tokenExpiresAt,
    };
    logger.info(
      { expiresAt: describeTokenTime(change.expiresAt) },
      "the runner's authentication token was reset: using the new one",
    );
    this.#unwritten.set(key, change);
    this.#options.onRotated(change);
    this.#writeBack(change);
  }

  #writeBack(change: TokenChange): void {
    const key = keyOf(change.url, change.oldToken);
    const file = this.#options.configFile;
    const logger = this.#options.logger;
    if (file === undefined) {
      logger.warn(
        { url: change.url },
        "the new runner token is not written anywhere: drover runs without a config file",
      );
      this.#unwritten.delete(key);
      return;
    }
    try {
      editConfigFile(file, writeRotatedToken(change, file));
      this.#unwritten.delete(key);
      logger.info({ file, url: change.url }, "the new runner token was written to the config file");
    } catch (err) {
      logger.error(
        { err, file, url: change.url },
        "the new runner token could not be written to the config file: drover uses it until it stops, but a restart would read the old token, which GitLab no longer accepts; fix the problem and reload (SIGHUP) to write it again",
      );
    }
  }
}

function keyOf(url: string, token: string): string {
  return `${url}\0${token}`;
}
