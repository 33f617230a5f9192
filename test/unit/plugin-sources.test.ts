/**
 * The pieces of installing from a URL or a registry (src/plugin/source, src/archive/tar-extract.ts):
 * specifiers, npm's version choice, integrity strings, and the strict tar reader against archives
 * made by GNU tar in each of its formats and against hostile ones built byte by byte.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { extractTarGz, TarError } from "../../src/archive/tar-extract.ts";
import {
  formatIntegrity,
  integrityOfBytes,
  matches,
  parseIntegrity,
} from "../../src/plugin/source/integrity.ts";
import { pickVersion } from "../../src/plugin/source/npm-registry.ts";
import { parseSpecifier, SpecifierError } from "../../src/plugin/source/specifier.ts";
import { cleanEnv, runProcess, tempDir } from "../harness.ts";

describe("source specifiers", () => {
  test.each([
    ["npm:@acme/drover-lxd@^1", { kind: "npm", name: "@acme/drover-lxd", range: "^1" }],
    ["npm:drover-telemetry", { kind: "npm", name: "drover-telemetry", range: "latest" }],
    ["npm:drover-telemetry@next", { kind: "npm", name: "drover-telemetry", range: "next" }],
    ["https://example.com/a.tar.gz", { kind: "url", url: "https://example.com/a.tar.gz", sha256: undefined }],
    [
      `https://example.com/a.tar.gz#sha256=${"AB".repeat(32)}`,
      { kind: "url", url: "https://example.com/a.tar.gz", sha256: "ab".repeat(32) },
    ],
    ["./plugins/lxd", { kind: "path", path: "/srv/plugins/lxd" }],
  ])("%s", (text, expected) => {
    expect(parseSpecifier(text, "/srv")).toEqual(expected as never);
  });

  test.each([
    ["npm:Bad_Name", "is not an npm package name"],
    ["npm:x@>>1", "is neither a semver range"],
    ["ftp://example.com/a.tar.gz", "only https:// and http:// URLs are fetched"],
    ["https://user:secret@example.com/a.tgz", "with a user name or password is not accepted"],
    ["https://example.com/a.tgz#sha256=abc", "the only fragment accepted is #sha256= with 64 hex digits"],
    ["https://example.com/a.tgz#main", "the only fragment accepted"],
  ])("%s is refused", (text, why) => {
    expect(() => parseSpecifier(text)).toThrow(SpecifierError);
    expect(() => parseSpecifier(text)).toThrow(why);
  });
});

describe("npm's choice of version", () => {
  const versions = ["1.0.0", "1.4.0", "2.0.0", "2.1.0", "3.0.0-rc.1"];
  test.each([
    ["^1", { latest: "2.1.0" }, "1.4.0"],
    ["^2", { latest: "2.0.0" }, "2.0.0"], // latest wins when it satisfies, as npm-pick-manifest does
    ["*", { latest: "2.1.0" }, "2.1.0"],
    ["next", { latest: "2.1.0", next: "3.0.0-rc.1" }, "3.0.0-rc.1"],
    [">=3", { latest: "2.1.0" }, undefined], // a prerelease is not picked by a range that does not name it
    ["beta", { latest: "2.1.0" }, undefined],
  ])("%s with tags %o → %s", (range, tags, expected) => {
    expect(pickVersion(versions, tags, range)).toBe(expected);
  });
});

describe("integrity", () => {
  test("the strongest known entry of an SRI string; bytes match it or not", () => {
    const bytes = Buffer.from("plugin");
    const sha512 = formatIntegrity(integrityOfBytes(bytes, "sha512"));
    const parsed = parseIntegrity(`sha1-AAAA sha256-${integrityOfBytes(bytes, "sha256").digest} ${sha512}`);
    expect(parsed && formatIntegrity(parsed)).toBe(sha512);
    expect(matches(bytes, parsed!)).toBe(true);
    expect(matches(Buffer.from("plugin!"), parsed!)).toBe(false);
    expect(parseIntegrity("sha1-deadbeef")).toBeUndefined();
  });
});

/** One ustar header and its data, as a tar writer would emit them. */
function entry(name: string, data: string, type = "0", mode = 0o644): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, "utf8");
  header.write(`${mode.toString(8).padStart(7, "0")}\0`, 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(`${Buffer.byteLength(data).toString(8).padStart(11, "0")}\0`, 124);
  header.write("00000000000\0", 136);
  header.write(type, 156);
  header.write("ustar\u000000", 257);
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  const body = Buffer.alloc(Math.ceil(Buffer.byteLength(data) / 512) * 512);
  body.write(data);
  return Buffer.concat([header, body]);
}

const archive = (...entries: Buffer[]) => gzipSync(Buffer.concat([...entries, Buffer.alloc(1024)]));

describe("tar extraction", () => {
  test.each(["gnu", "ustar", "pax"])(
    "GNU tar --format=%s, long names and an executable bit included",
    async (format) => {
      using dir = tempDir();
      const long = `${"deep/".repeat(25)}plugin.ts`;
      const src = join(dir.path, "src");
      await runProcess(["mkdir", "-p", join(src, "pkg", long, "..")], {
        cwd: dir.path,
        env: cleanEnv(dir.path),
      });
      await Bun.write(join(src, "pkg", long), "export {};\n");
      await Bun.write(join(src, "pkg", "run.sh"), "#!/bin/sh\n");
      await runProcess(["chmod", "4755", join(src, "pkg", "run.sh")], {
        cwd: dir.path,
        env: cleanEnv(dir.path),
      });
      const made = await runProcess(["tar", `--format=${format}`, "-czf", "../a.tgz", "pkg"], {
        cwd: src,
        env: cleanEnv(dir.path),
      });
      expect(made.exitCode).toBe(0);
      const out = join(dir.path, "out");
      const files = extractTarGz(readFileSync(join(dir.path, "a.tgz")), out);
      expect(files.sort()).toEqual([`pkg/${long}`, "pkg/run.sh"]);
      expect(readFileSync(join(out, "pkg", long), "utf8")).toBe("export {};\n");
      // The execute bit stays; set-user-id does not.
      expect(statSync(join(out, "pkg", "run.sh")).mode & 0o7777).toBe(0o755);
    },
  );

  test.each([
    ["a name leading out", [entry("../escape.txt", "x")], '"../escape.txt" leads outside the directory'],
    ["an absolute name", [entry("/etc/cron.d/x", "x")], '"/etc/cron.d/x" is an absolute path'],
    ["a symbolic link", [entry("link", "", "2")], '"link" is a symbolic link'],
    ["a hard link", [entry("hard", "", "1")], '"hard" is a hard link'],
    ["a device", [entry("dev", "", "3")], '"dev" is a device'],
    ["a file twice", [entry("a", "1"), entry("a", "2")], '"a" is in it twice'],
    ["a file under a file", [entry("a", "1"), entry("a/b", "2")], '"a/b" cannot be unpacked'],
  ])("%s refuses the archive", (_, entries, why) => {
    using dir = tempDir();
    expect(() => extractTarGz(archive(...entries), join(dir.path, "out"))).toThrow(why);
    expect(readdirSync(dir.path)).not.toContain("escape.txt");
  });

  test("a damaged header, or bytes that are not gzip, are one clear error", () => {
    using dir = tempDir();
    const damaged = entry("a", "1");
    damaged[0] = 0x41;
    expect(() => extractTarGz(gzipSync(damaged), join(dir.path, "x"))).toThrow("wrong checksum");
    expect(() => extractTarGz(Buffer.from("PK\x03\x04 a zip"), join(dir.path, "y"))).toThrow(TarError);
    expect(() => extractTarGz(Buffer.from("PK\x03\x04 a zip"), join(dir.path, "y"))).toThrow(
      "is not a gzip file",
    );
  });
});
