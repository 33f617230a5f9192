/**
 * Which files an artifact or a cache takes: GitLab Runner's `fileArchiver` (commands/helpers/
 * file_archiver.go). Each `path` is a glob (`**` included, hidden files too) relative to the
 * working directory (the project dir); a directory it matches brings everything below it;
 * `untracked` adds what `git ls-files -o` lists; an `exclude` glob takes matching files out. Only
 * what lives inside the working directory is taken: a path leading outside is refused with a
 * warning, as GitLab refuses it.
 *
 * Messages are GitLab's (`out/: found 3 matching artifact files and directories`, `WARNING: out/:
 * no matching files. Ensure that the artifact path is relative to the working directory (...)`),
 * written to `report`.
 */
import { spawnSync } from "node:child_process";
import { lstatSync, readdirSync, type Stats } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";

export interface FileListOptions {
  /** The working directory: the project dir. */
  wd: string;
  paths: readonly string[];
  exclude: readonly string[];
  untracked: boolean;
  /** Where GitLab's lines go (the job log, through the helper's stdout). */
  report: (line: string) => void;
}

/** Files, directories and symbolic links to archive: paths relative to `wd`, `/`-separated, sorted. */
export interface FileList {
  entries: Map<string, Stats>;
  excluded: Map<string, number>;
}

export function listFiles(options: FileListOptions): FileList {
  const list: FileList = { entries: new Map(), excluded: new Map() };
  const excludes = options.exclude.map((pattern) => new Bun.Glob(pattern));
  const take = (path: string): boolean => {
    if (path === "." || path === options.wd) return false; // the working directory itself: its contents count
    const relativePath = inside(options.wd, path);
    if (relativePath === undefined) {
      options.report(`WARNING: ${path}: not supported: outside build directory`);
      return false;
    }
    const rule = options.exclude.find((_, i) => excludes[i]!.match(relativePath));
    if (rule !== undefined) {
      list.excluded.set(rule, (list.excluded.get(rule) ?? 0) + 1);
      return false;
    }
    let stats: Stats;
    try {
      stats = lstatSync(join(options.wd, relativePath));
    } catch {
      return false; // gone meanwhile: GitLab hides "does not exist"
    }
    list.entries.set(relativePath, stats);
    return true;
  };

  for (const path of options.paths) {
    let found = 0;
    for (const match of glob(options.wd, path)) {
      for (const entry of walk(options.wd, match)) if (take(entry)) found++;
    }
    if (found === 0) {
      options.report(
        `WARNING: ${path}: no matching files. Ensure that the artifact path is relative to the working directory (${options.wd})`,
      );
    } else {
      options.report(`${path}: found ${found} matching artifact files and directories`);
    }
  }

  if (options.untracked) {
    const git = spawnSync("git", ["ls-files", "-o", "-z"], { cwd: options.wd, encoding: "buffer" });
    if (git.status !== 0) {
      options.report(
        `WARNING: untracked: ${git.stderr.toString().trim() || `git exited with ${git.status}`}`,
      );
    } else {
      let found = 0;
      for (const file of git.stdout.toString().split("\0")) if (file !== "" && take(file)) found++;
      options.report(found === 0 ? "WARNING: untracked: no files" : `untracked: found ${found} files`);
    }
  }

  for (const [rule, count] of list.excluded) options.report(`${rule}: excluded ${count} files`);
  list.entries = new Map([...list.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return list;
}

/** The matches of one pattern, relative to `wd` (an absolute pattern inside `wd` is made relative). */
function glob(wd: string, pattern: string): string[] {
  let relativePattern = pattern;
  if (isAbsolute(pattern)) {
    const rel = relative(wd, pattern);
    if (rel.startsWith("..") || isAbsolute(rel)) return [pattern]; // refused by `take`
    relativePattern = rel === "" ? "." : rel;
  }
  if (relativePattern === "." || relativePattern === "./") return ["."];
  try {
    return [
      ...new Bun.Glob(relativePattern).scanSync({
        cwd: wd,
        dot: true,
        onlyFiles: false,
        followSymlinks: false,
      }),
    ];
  } catch {
    return [];
  }
}

/** `path` and, for a directory (not a link to one), everything below it (filepath.Walk). */
function* walk(wd: string, path: string): Generator<string> {
  yield path;
  let stats: Stats;
  try {
    stats = lstatSync(join(wd, path));
  } catch {
    return;
  }
  if (!stats.isDirectory()) return;
  let names: string[];
  try {
    names = readdirSync(join(wd, path)).sort();
  } catch {
    return;
  }
  for (const name of names) yield* walk(wd, path === "." ? name : `${path}/${name}`);
}

/** `path` relative to `wd`, `/`-separated, when it is inside `wd` (not `wd` itself); else undefined. */
function inside(wd: string, path: string): string | undefined {
  const rel = relative(wd, isAbsolute(path) ? path : join(wd, path));
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel.split(sep).join("/");
}
