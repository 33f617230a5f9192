/**
 * src/archive/: which files an artifact or cache takes (GitLab's fileArchiver), the zip drover
 * writes (read back by Info-ZIP and by drover), the extractor's refusals, GitLab's gzip members;
 * and the cache key rules (GitLab's sanitizeCacheKey).
 */
import { describe, expect, test } from "bun:test";
import {
  createWriteStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { gunzipSync } from "node:zlib";
import yazl from "yazl";
import { listFiles } from "../../src/archive/file-list.ts";
import { gzipMember } from "../../src/archive/gzip-members.ts";
import { createZip } from "../../src/archive/zip-create.ts";
import { extractZip } from "../../src/archive/zip-extract.ts";
import { artifactFileName } from "../../src/helper/artifacts-uploader.ts";
import { sanitizeCacheKey } from "../../src/job/script/cache.ts";
import { redirectTarget } from "../../src/net/redirect-target.ts";
import { tempDir } from "../harness.ts";

function tree(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

describe("listFiles (GitLab's fileArchiver)", () => {
  test("globs, directories walked, excludes counted, hidden files, outside paths refused", () => {
    using dir = tempDir();
    const wd = join(dir.path, "project");
    tree(wd, {
      "out/a.txt": "a",
      "out/sub/b.log": "b",
      "out/.hidden": "h",
      "top.txt": "t",
      "../secret": "s",
    });
    const lines: string[] = [];
    const list = listFiles({
      wd,
      paths: ["out/", "*.txt", "missing/", "../secret", join(wd, "top.txt")],
      exclude: ["out/**/*.log"],
      untracked: false,
      report: (line) => lines.push(line),
    });
    expect([...list.entries.keys()]).toEqual(["out", "out/.hidden", "out/a.txt", "out/sub", "top.txt"]);
    expect(lines).toEqual([
      "out/: found 4 matching artifact files and directories",
      "*.txt: found 1 matching artifact files and directories",
      `WARNING: missing/: no matching files. Ensure that the artifact path is relative to the working directory (${wd})`,
      "WARNING: ../secret: not supported: outside build directory",
      `WARNING: ../secret: no matching files. Ensure that the artifact path is relative to the working directory (${wd})`,
      `${join(wd, "top.txt")}: found 1 matching artifact files and directories`,
      "out/**/*.log: excluded 1 files",
    ]);
  });

  test("untracked: what git does not track", () => {
    using dir = tempDir();
    const wd = join(dir.path, "repo");
    tree(wd, { "tracked.txt": "t", "new.txt": "n", "dir/new2.txt": "n" });
    const git = (...args: string[]) =>
      Bun.spawnSync(["git", ...args], {
        cwd: wd,
        env: { PATH: process.env.PATH ?? "", GIT_CONFIG_NOSYSTEM: "1", HOME: dir.path },
      });
    git("init", "-q");
    git("add", "tracked.txt");
    const lines: string[] = [];
    const list = listFiles({ wd, paths: [], exclude: [], untracked: true, report: (l) => lines.push(l) });
    expect([...list.entries.keys()]).toEqual(["dir/new2.txt", "new.txt"]);
    expect(lines).toEqual(["untracked: found 2 files"]);
  });
});

describe("zip: what drover writes, Info-ZIP and drover read", () => {
  test("files with their modes and times, directories, links as links", async () => {
    using dir = tempDir();
    const wd = join(dir.path, "src");
    tree(wd, { "bin/run.sh": "#!/bin/sh\n", "data/x.txt": "x".repeat(100_000) });
    Bun.spawnSync(["chmod", "755", join(wd, "bin/run.sh")]);
    symlinkSync("../data/x.txt", join(wd, "bin/link"));
    const list = listFiles({ wd, paths: ["bin/", "data/"], exclude: [], untracked: false, report: () => {} });
    const zip = join(dir.path, "a.zip");
    await createZip(list, wd, zip);
    const unzip = Bun.spawnSync(["unzip", "-Z", zip]).stdout.toString();
    expect(unzip).toMatch(/^-rwxr-xr-x .* bin\/run\.sh$/m);
    expect(unzip).toMatch(/^lrwxrwxrwx .* bin\/link$/m);
    expect(unzip).toMatch(/^drwxr-xr-x .* data\/$/m);

    const into = join(dir.path, "out");
    mkdirSync(into);
    const result = await extractZip(zip, into);
    expect(result).toEqual({ files: 3, refused: [] });
    expect(statSync(join(into, "bin/run.sh")).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(into, "bin/link"))).toBe("../data/x.txt");
    expect(readFileSync(join(into, "data/x.txt"), "utf8")).toHaveLength(100_000);
    expect(
      Math.abs(statSync(join(into, "data/x.txt")).mtimeMs - statSync(join(wd, "data/x.txt")).mtimeMs),
    ).toBeLessThan(2100);
  });

  test("the extractor refuses what would leave the directory, entry by entry", async () => {
    using dir = tempDir();
    const outside = join(dir.path, "outside");
    mkdirSync(outside);
    const stage = join(dir.path, "stage");
    tree(stage, { "ok/fine.txt": "fine", "p/link/evil.txt": "evil", "escaped.txt": "out" });
    symlinkSync(outside, join(stage, "ok", "link"));
    const zip = join(dir.path, "evil.zip");
    const run = (args: string[], cwd: string) => Bun.spawnSync(["zip", "-q", ...args], { cwd });
    run(["-y", zip, "fine.txt", "link"], join(stage, "ok"));
    run([zip, "link/evil.txt"], join(stage, "p"));
    run([zip, "../escaped.txt"], join(stage, "ok"));
    const into = join(dir.path, "into");
    mkdirSync(into);
    const result = await extractZip(zip, into);
    expect(result.files).toBe(2);
    expect(result.refused).toEqual([
      `link/evil.txt: ${join(into, "link")} is a symbolic link`,
      "../escaped.txt: leads outside the directory",
    ]);
    expect(existsSync(join(outside, "evil.txt"))).toBe(false);
    expect(lstatSync(join(into, "link")).isSymbolicLink()).toBe(true);
  });

  test("an existing file is replaced, not written through a link that stands there", async () => {
    using dir = tempDir();
    const wd = join(dir.path, "src");
    tree(wd, { "f.txt": "new" });
    const zip = join(dir.path, "a.zip");
    await createZip(
      listFiles({ wd, paths: ["f.txt"], exclude: [], untracked: false, report: () => {} }),
      wd,
      zip,
    );
    const into = join(dir.path, "into");
    const victim = join(dir.path, "victim.txt");
    writeFileSync(victim, "untouched");
    mkdirSync(into);
    symlinkSync(victim, join(into, "f.txt"));
    await extractZip(zip, into);
    expect(readFileSync(victim, "utf8")).toBe("untouched");
    expect(readFileSync(join(into, "f.txt"), "utf8")).toBe("new");
  });
});

describe("archives that cannot be made or must not be trusted", () => {
  test("a file gone since it was listed fails the archive, naming it; no temporary file is left", async () => {
    using dir = tempDir();
    const wd = join(dir.path, "src");
    tree(wd, { "a.txt": "a", "b.txt": "b" });
    const list = listFiles({ wd, paths: ["*.txt"], exclude: [], untracked: false, report: () => {} });
    rmSync(join(wd, "b.txt"));
    const out = join(dir.path, "out");
    mkdirSync(out);
    await expect(createZip(list, wd, join(out, "cache.zip"))).rejects.toThrow("b.txt: ENOENT");
    expect(readdirSync(out)).toEqual([]);
  });

  test("a symbolic link entry with a target longer than PATH_MAX is refused, not read into memory", async () => {
    using dir = tempDir();
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.alloc(5000, "a"), "long-link", { mode: 0o120777, compress: false });
    zip.addBuffer(Buffer.from("fine"), "fine.txt");
    zip.end();
    const file = join(dir.path, "links.zip");
    await pipeline(zip.outputStream, createWriteStream(file));
    const into = join(dir.path, "into");
    mkdirSync(into);
    expect(await extractZip(file, into)).toEqual({
      files: 1,
      refused: ["long-link: a symbolic link whose target is 5000 bytes long"],
    });
    expect(readdirSync(into)).toEqual(["fine.txt"]);
  });

  test.each([
    ["/elsewhere?x=1", "https://gitlab.example/api", "https://gitlab.example/elsewhere?x=1"],
    ["https://storage.example/o", "http://gitlab.example/api", "https://storage.example/o"],
    [
      "file:///var/cache/other-project/cache.zip",
      "http://gitlab.example/api",
      "a redirect to a file: URL, which drover does not follow",
    ],
    [
      "http://storage.example/o",
      "https://gitlab.example/api",
      "a redirect from https down to http (http://storage.example), which drover does not follow",
    ],
    ["", "https://gitlab.example/api", "a redirect without a Location"],
    ["http://[::1", "https://gitlab.example/api", 'a redirect to "http://[::1", which is not a URL'],
  ])("a redirect to %s from %s", (location, from, expected) => {
    const target = redirectTarget(location, new URL(from));
    expect(typeof target === "string" ? target : target.href).toBe(expected);
  });
});

describe("GitLab's gzip artifact format", () => {
  test("one member per file, named in FNAME", () => {
    const members = Buffer.concat([
      gzipMember("a/junit.xml", Buffer.from("<a/>"), new Date(0)),
      gzipMember("b.xml", Buffer.from("<b/>"), new Date(0)),
    ]);
    expect(gunzipSync(members).toString()).toBe("<a/><b/>");
    expect(members.subarray(10, 21).toString()).toBe("a/junit.xml");
  });
});

describe("artifact file names (gitlab-runner's artifactFilename)", () => {
  test.each([
    ["artifacts", "zip", "artifacts.zip"],
    ["dir/name", "gzip", "name.gz"],
    ["", "zip", "default.zip"],
    [".", "zip", "default.zip"],
    ["report.json", "raw", "report.json"],
  ])("%j as %s → %j", (name, format, expected) => {
    expect(artifactFileName(name, format)).toBe(expected);
  });
});

describe("cache keys (GitLab's sanitizeCacheKey)", () => {
  test.each([
    ["default", { key: "default" }],
    ["deps/main", { key: "deps/main" }],
    ["../../etc", { key: "etc", warning: 'cache key "../../etc" sanitized to "etc"' }],
    ["a%2Fb%2e%2E", { key: "a/b..", warning: 'cache key "a%2Fb%2e%2E" sanitized to "a/b.."' }],
    ["a\\b", { key: "a/b", warning: 'cache key "a\\\\b" sanitized to "a/b"' }],
    ["key/ ", { key: "key", warning: 'cache key "key/ " sanitized to "key"' }],
    ["/abs/path/", { key: "abs/path", warning: 'cache key "/abs/path/" sanitized to "abs/path"' }],
    ["..", { invalid: 'cache key ".." could not be sanitized' }],
    ["", { invalid: "empty cache key" }],
  ])("%j", (key, expected) => {
    expect(sanitizeCacheKey(key)).toEqual(expected);
  });
});
