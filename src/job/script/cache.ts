/**
 * The local cache (docs/jobs.md): restore_cache unpacks, archive_cache packs `cache.paths` (and, with
 * `untracked`, every file git does not track) as `<cacheDir>/<key>/cache.tar`.
 *
 * `cacheDir` is this project's cache directory, `<cache_dir>/<namespace>/<project>` as GitLab Runner
 * lays it out (src/job/job-environment.ts), so no cache crosses projects. An archive
 * is written to a temp file beside it and renamed, so a concurrent restore sees the old or the new
 * cache, never half of one. As in GitLab a missing or unreadable cache is a warning, never a
 * failure; an archive that cannot be written fails its stage, which never affects the job's status.
 */

import { expandVariables, variableTable } from "../../../kernel/variables.ts";
import type { CacheSpec, ScriptContext } from "../model.ts";
import { type ScriptWriter, shellWord } from "./bash.ts";

/** The expanded cache key, or why it cannot name a directory. */
export function cacheKey(cache: CacheSpec, ctx: ScriptContext): { key: string } | { invalid: string } {
  const key = expandVariables(cache.key, variableTable(ctx.variables));
  if (key === "") return { invalid: "it is empty" };
  if (key.includes("..")) return { invalid: 'it contains ".."' };
  if (/[/\\]/.test(key)) return { invalid: "it contains a slash" };
  if (/^\.+$/.test(key)) return { invalid: "it is only dots" };
  if (/[\x00-\x1f\x7f]/.test(key)) return { invalid: "it contains control characters" };
  return { key };
}

function resolveKey(w: ScriptWriter, cache: CacheSpec, ctx: ScriptContext): string | undefined {
  const result = cacheKey(cache, ctx);
  if ("key" in result) return result.key;
  w.warning(`cache key ${JSON.stringify(cache.key)} is not valid: ${result.invalid}; skipping this cache`);
  return undefined;
}

/** Appends restore commands for `caches`; the script is in the project dir. */
export function writeRestoreCache(w: ScriptWriter, caches: readonly CacheSpec[], ctx: ScriptContext): void {
  if (ctx.cacheDir === undefined) {
    w.warning("no cache_dir is configured; the cache is not restored");
    return;
  }
  for (const cache of caches) {
    const key = resolveKey(w, cache, ctx);
    if (key === undefined) continue;
    const file = `${ctx.cacheDir}/${key}/cache.tar`;
    w.print(`Checking cache for ${key}...`);
    w.line(`if [ -f ${shellWord(file)} ]; then`);
    w.line(`  if tar -xf ${shellWord(file)}; then`);
    w.print("Successfully extracted cache");
    w.line("  else");
    w.warning("Failed to extract cache");
    w.line("  fi");
    w.line("else");
    w.warning(`No cache found for ${key}`);
    w.line("fi");
  }
}

/**
 * Appends archive commands for `caches`; the script is in the project dir. Paths are bash globs
 * (`**` included) matched relative to it; the pattern text is only ever expanded from a variable,
 * unquoted with IFS empty, which globs but never runs `$(...)` or splits on spaces.
 */
export function writeArchiveCache(w: ScriptWriter, caches: readonly CacheSpec[], ctx: ScriptContext): void {
  if (ctx.cacheDir === undefined) {
    w.warning("no cache_dir is configured; the cache is not saved");
    return;
  }
  for (const cache of caches) {
    const key = resolveKey(w, cache, ctx);
    if (key === undefined) continue;
    const dir = `${ctx.cacheDir}/${key}`;
    w.print(`Creating cache ${key}...`);
    // A subshell: shopt and IFS stay local, and `exit` leaves only this cache's block.
    w.line("(").line("  shopt -s nullglob globstar dotglob").line("  IFS=").line("  _drover_files=()");
    for (const path of cache.paths) {
      if (path.startsWith("/") || path.split("/").includes("..")) {
        w.warning(`${path}: not inside the project directory; ignored`);
        continue;
      }
      w.line(`  _drover_pattern=${shellWord(path)}`).line("  _drover_found=0");
      w.line("  for _drover_f in $_drover_pattern; do");
      w.line('    if [ -e "$_drover_f" ] || [ -L "$_drover_f" ]; then');
      w.line('      _drover_files+=("./$_drover_f"); _drover_found=$((_drover_found + 1))');
      w.line("    fi");
      w.line("  done");
      w.line(`  printf '%s: found %d matching files and directories\\n' "$_drover_pattern" "$_drover_found"`);
    }
    if (cache.untracked) {
      w.line("  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then");
      w.line("    _drover_found=0");
      w.line('    while IFS= read -r -d "" _drover_f; do');
      w.line('      _drover_files+=("./$_drover_f"); _drover_found=$((_drover_found + 1))');
      w.line("    done < <(git ls-files --others -z)");
      w.line(`    printf 'untracked: found %d files\\n' "$_drover_found"`);
      w.line("  else");
      w.warning("untracked: the project directory is not a git repository");
      w.line("  fi");
    }
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion
    w.line('  if [ "${#_drover_files[@]}" -eq 0 ]; then');
    w.warning(`no files to cache for ${key}; the cache is not saved`);
    w.line("    exit 0");
    w.line("  fi");
    w.line(`  mkdir -p ${shellWord(dir)}`);
    w.line(`  _drover_tmp=${shellWord(`${dir}/cache.tar.`)}"$$.$BASHPID"`);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion
    w.line('  if ! tar -cf "$_drover_tmp" "${_drover_files[@]}"; then');
    w.line('    rm -f "$_drover_tmp"');
    w.warning(`Failed to create cache ${key}`);
    w.line("    exit 1");
    w.line("  fi");
    w.line(`  mv -f "$_drover_tmp" ${shellWord(`${dir}/cache.tar`)}`);
    w.print("Created cache");
    w.line(")");
  }
}
