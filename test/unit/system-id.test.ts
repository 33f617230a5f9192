/**
 * The system ID file beside config.toml (src/config/system-id.ts), by GitLab Runner's rules
 * (commands/internal/configfile/system_id_state.go).
 */
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { chownSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { generateSystemId, isSystemId, loadSystemId } from "../../src/config/system-id.ts";
import { tempDir } from "../harness.ts";
import { escapeRegExp, unwritableDirectory } from "../harness-files.ts";

describe("system ID", () => {
  test("generated once from the machine-id: s_ and 12 hex digits, kept 0600 beside the config", () => {
    using dir = tempDir();
    const machineId = dir.file("machine-id", "0123456789abcdef0123456789abcdef\n");
    const config = join(dir.path, "config.toml");
    const first = loadSystemId(config, [join(dir.path, "missing"), machineId]);
    const expected = `s_${createHmac("sha256", "0123456789abcdef0123456789abcdef").update("drover").digest("hex").slice(0, 12)}`;
    expect(first).toEqual({ systemId: expected, file: join(dir.path, ".runner_system_id") });
    expect(first.systemId).toMatch(/^s_[0-9a-f]{12}$/);
    expect(readFileSync(first.file, "utf8")).toBe(expected);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    // The same machine gives the same ID even without the file.
    expect(generateSystemId([machineId])).toBe(expected);
  });

  test("created by root (sudo drover register) for another user's config: owned by that user", () => {
    using dir = tempDir();
    const config = dir.file("config.toml", "", 0o600);
    chownSync(config, 65534, 65534);
    const { file } = loadSystemId(config, []);
    expect(statSync(file)).toMatchObject({ uid: 65534, gid: 65534 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test("an existing ID is kept as it is (GitLab Runner's file, r_ IDs, surrounding blanks)", () => {
    using dir = tempDir();
    dir.file(".runner_system_id", "  r_AbC123xyZ789\n", 0o600);
    expect(loadSystemId(join(dir.path, "config.toml"), []).systemId).toBe("r_AbC123xyZ789");
  });

  test("a garbled file is replaced by a new ID", () => {
    using dir = tempDir();
    const file = dir.file(".runner_system_id", "not an id\n", 0o600);
    const { systemId } = loadSystemId(join(dir.path, "config.toml"), []);
    expect(systemId).toMatch(/^r_[0-9a-zA-Z]{12}$/);
    expect(readFileSync(file, "utf8")).toBe(systemId);
  });

  test("without a machine-id: r_ and 12 random letters and digits", () => {
    const a = generateSystemId([]);
    expect(a).toMatch(/^r_[0-9a-zA-Z]{12}$/);
    expect(generateSystemId([])).not.toBe(a);
    expect(isSystemId(a)).toBe(true);
    expect(isSystemId("s_123")).toBe(false);
  });

  test("a directory it cannot write to: the ID is used, with a warning that says how to keep it", () => {
    using dir = tempDir();
    using _ = unwritableDirectory(dir.path);
    const result = loadSystemId(join(dir.path, "config.toml"), []);
    const file = join(dir.path, ".runner_system_id");
    expect(result.warning).toMatch(
      new RegExp(
        `^cannot write ${escapeRegExp(JSON.stringify(file))}: (EACCES|EPERM) \\(permission denied: drover's user must be able to write the directory\\); drover uses system ID ${result.systemId} for now\\. To keep it across restarts, write it there: echo ${result.systemId} > ${escapeRegExp(file)}$`,
      ),
    );
  });
});
