/**
 * The local cache (docs/jobs.md, "Artifacts and caches"), as GitLab Runner keeps it: restore_cache
 * runs `drover cache-extractor` and archive_cache `drover cache-archiver` (src/helper/) in the
 * project dir, on `<cacheDir>/<key>/cache.zip`. `cacheDir` is this project's cache directory,
 * `<cache_dir>/<namespace>/<project>` (src/job/job-environment.ts): the layout and the zip format
 * are gitlab-runner's, so a host moving from gitlab-runner keeps its caches, and no cache crosses
 * projects.
 *
 * Keys are GitLab's (shells/abstract.go newCacheConfig, sanitizeCacheKey): expanded, `%2F`/`%2E`
 * and `\` undone, cleaned as a path that cannot leave the cache dir (a key may be `a/b`), the
 * last element without trailing spaces; FF_HASH_CACHE_KEYS uses the key's SHA-256 instead. As in
 * GitLab a missing cache or a failed archive is a warning, never a failure of the job.
 */

import { createHash } from "node:crypto";
import { posix } from "node:path";
import { expandVariables, variableTable } from "../../../kernel/variables.ts";
import { FeatureFlags } from "../feature-flags.ts";
import type { CacheSpec, Job, ScriptContext } from "../model.ts";
import { quote, type ScriptWriter, shellWord } from "./bash.ts";

/** GitLab's sanitizeCacheKey: the key as a path inside the cache dir, and a warning when it changed. */
export function sanitizeCacheKey(key: string): { key: string; warning?: string } | { invalid: string } {
  if (key === "") return { invalid: "empty cache key" };
  const undone = key.replaceAll(/%2e/gi, ".").replaceAll(/%2f/gi, "/").replaceAll("\\", "/");
  let cleaned = posix.join("/", undone);
  let result = "";
  while (cleaned !== "") {
    const slash = cleaned.lastIndexOf("/");
    const dir = cleaned.slice(0, slash + 1);
    const file = cleaned.slice(slash + 1).replace(/\s+$/u, "");
    if (file === "") {
      cleaned = dir.slice(0, -1);
      continue;
    }
    result = posix.join(dir.slice(1), file);
    break;
  }
  if (result === "") return { invalid: `cache key ${JSON.stringify(key)} could not be sanitized` };
  if (/[\x00-\x1f\x7f]/.test(result))
    return { invalid: `cache key ${JSON.stringify(key)} contains control characters` };
  return result === key
    ? { key: result }
    : { key: result, warning: `cache key ${JSON.stringify(key)} sanitized to ${JSON.stringify(result)}` };
}

/**
 * A cache key as the path of its archive under the cache dir (hashed with FF_HASH_CACHE_KEYS), or
 * why there is none. `key` is as the payload has it: expanded here, and "" is gitlab-runner's
 * default, `<job name>/<ref>` (taken as it is, not expanded).
 */
export function cacheKey(
  key: string,
  job: Pick<Job, "name" | "git">,
  ctx: ScriptContext,
): { key: string; warning?: string } | { invalid: string } {
  const raw = key === "" ? posix.join("/", job.name, job.git?.ref ?? "").slice(1) : expandText(key, ctx);
  return keyAsPath(raw, ctx);
}

function keyAsPath(raw: string, ctx: ScriptContext): { key: string; warning?: string } | { invalid: string } {
  const flags = ctx.flags ?? FeatureFlags.resolve({}, ctx.variables);
  if (flags.on("FF_HASH_CACHE_KEYS")) {
    return raw === ""
      ? { invalid: "empty cache key" }
      : { key: createHash("sha256").update(raw).digest("hex") };
  }
  return sanitizeCacheKey(raw);
}

function expandText(text: string, ctx: ScriptContext): string {
  return expandVariables(text, variableTable(ctx.variables));
}

/** Prints why a key is skipped or changed; the path, or undefined when skipped. */
function usableKey(
  w: ScriptWriter,
  result: { key: string; warning?: string } | { invalid: string },
  what: string,
): string | undefined {
  if ("invalid" in result) {
    w.print(`Skipping cache ${what} due to ${result.invalid}`);
    return undefined;
  }
  if (result.warning) w.warning(result.warning);
  return result.key;
}

/**
 * The keys a restore tries, in gitlab-runner's order: the cache's key, its `fallback_keys`
 * (expanded), then the job's CACHE_FALLBACK_KEY variable (taken as it is). A CACHE_FALLBACK_KEY
 * that ends in `-protected` is refused: it would let an unprotected branch read a protected
 * branch's cache (GitLab gives protected refs' caches that suffix).
 */
function restoreKeys(w: ScriptWriter, cache: CacheSpec, job: Job, ctx: ScriptContext): string[] {
  const primary = usableKey(w, cacheKey(cache.key, job, ctx), "extraction");
  if (primary === undefined) return [];
  const keys = [primary];
  for (const fallback of cache.fallbackKeys) {
    const expanded = expandText(fallback, ctx);
    if (expanded === "") continue;
    const key = usableKey(w, keyAsPath(expanded, ctx), "extraction");
    if (key !== undefined) keys.push(key);
  }
  const variable = ctx.variables.findLast((v) => v.key === "CACHE_FALLBACK_KEY")?.value ?? "";
  if (variable !== "") {
    const sanitized = sanitizeCacheKey(variable);
    const human = "invalid" in sanitized ? variable : sanitized.key;
    if (human.replace(/[. ]+$/u, "").endsWith("-protected")) {
      w.warning(`CACHE_FALLBACK_KEY ${JSON.stringify(variable)} not allowed to end in "-protected"`);
    } else {
      const key = usableKey(w, keyAsPath(variable, ctx), "extraction");
      if (key !== undefined) keys.push(key);
    }
  }
  return keys;
}

/**
 * gitlab-runner's guardRunnerCommand: the helper runs only where it is there; without it, a
 * warning (`Missing drover. Extracting cache is disabled.`) and the stage goes on.
 */
export function guardHelper(w: ScriptWriter, ctx: ScriptContext, action: string, body: () => void): void {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion
  w.line('_drover_helper="${DROVER_HELPER:-}"');
  w.line(`[ -n "$_drover_helper" ] || _drover_helper=${quote(ctx.helper ?? "drover")}`);
  w.line(`if ${helperWord()} --version >/dev/null 2>&1; then`);
  body();
  w.line("else");
  w.warning(`Missing ${ctx.helper ?? "drover"}. ${action} is disabled.`);
  w.line("fi");
}

/**
 * The helper, inside `guardHelper`: DROVER_HELPER when the job's environment names one (an
 * executor whose jobs find drover elsewhere: the runner's `environment`), else the runner's default
 * (ScriptContext.helper).
 */
export function helperWord(): string {
  return '"$_drover_helper"';
}

/**
 * Appends restore commands for `caches`; the script is in the project dir. Each cache tries its
 * keys in turn until one extracts (restoreKeys); with FF_CLEAN_UP_FAILED_CACHE_EXTRACT, a failed
 * extraction removes the cache's paths first, so no half-extracted tree is left for the next key
 * or the job.
 */
export function writeRestoreCache(
  w: ScriptWriter,
  job: Job,
  caches: readonly CacheSpec[],
  ctx: ScriptContext,
): void {
  if (ctx.cacheDir === undefined) {
    w.warning("no cache_dir is configured; the cache is not restored");
    return;
  }
  const cacheDir = ctx.cacheDir;
  const flags = ctx.flags ?? FeatureFlags.resolve({}, ctx.variables);
  for (const cache of caches) {
    const keys = restoreKeys(w, cache, job, ctx);
    if (keys.length === 0) continue;
    guardHelper(w, ctx, "Extracting cache", () => {
      for (const key of keys) {
        w.print(`Checking cache for ${key}...`);
        const file = `${cacheDir}/${key}/cache.zip`;
        w.line(`if ${helperWord()} cache-extractor --file ${shellWord(file)} --timeout 10; then`);
        w.print("Successfully extracted cache");
        w.line("else");
        w.warning("Failed to extract cache");
        if (flags.on("FF_CLEAN_UP_FAILED_CACHE_EXTRACT")) writeRemovePaths(w, cache.paths);
      }
      for (const _ of keys) w.line("fi");
    });
  }
}

/**
 * Removes a cache's `paths` from the project dir. A path that could leave it (absolute, or with a
 * `..` element) is left alone: the paths come from the job, and this runs before its script.
 */
function writeRemovePaths(w: ScriptWriter, paths: readonly string[]): void {
  for (const path of paths) {
    if (path === "" || path.startsWith("/") || path.split("/").includes("..")) continue;
    w.print(`Removing ${path}`);
    w.command("rm", "-rf", "--", path);
  }
}

/** Appends archive commands for `caches`; the script is in the project dir. */
export function writeArchiveCache(
  w: ScriptWriter,
  job: Job,
  caches: readonly CacheSpec[],
  ctx: ScriptContext,
): void {
  if (ctx.cacheDir === undefined) {
    w.warning("no cache_dir is configured; the cache is not saved");
    return;
  }
  for (const cache of caches) {
    const key = usableKey(w, cacheKey(cache.key, job, ctx), "archiving");
    if (key === undefined) continue;
    const file = `${ctx.cacheDir}/${key}/cache.zip`;
    const args = ["--file", file, "--timeout", "10"];
    for (const path of cache.paths) args.push("--path", path);
    if (cache.untracked) args.push("--untracked");
    guardHelper(w, ctx, "Creating cache", () => {
      w.print(`Creating cache ${key}...`);
      w.line(`if ${helperWord()} cache-archiver ${args.map(shellWord).join(" ")}; then`);
      w.print("Created cache");
      w.line("else");
      w.warning("Failed to create cache");
      w.line("fi");
    });
  }
}
