/**
 * The sandbox example (examples/sandbox-executor) copied as it is onto a shared host (docs/security.md,
 * "Examples"): another user creates the directory it would use first, to read or change the stage
 * scripts. Examples keep no fixed shared path: by default each plugin process makes a private one,
 * and a configured base_dir must be trusted.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  ROOT,
  runProcess,
  type TempDir,
  tempDir,
  tsExecutable,
} from "../../harness.ts";

ensureBuilt();

const SANDBOX = join(ROOT, "examples", "sandbox-executor", "main.ts");

function config(dir: TempDir, settings = ""): string {
  const plugin = tsExecutable(dir, "sandbox", SANDBOX);
  return dir.file(
    "config.toml",
    `[[runners]]\n  name = "sandbox"\n  executor = "plugin"\n  [runners.plugin]\n    path = "${plugin}"\n${settings}`,
  );
}

describe("the sandbox example", () => {
  test("a directory another user made in the shared TMPDIR first is not used", async () => {
    using dir = tempDir();
    chmodSync(dir.path, 0o755);
    const shared = join(dir.path, "shared-tmp");
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const trap = join(shared, "drover-sandbox");
    const made = await runProcess(
      ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "mkdir", "-m", "777", trap],
      { cwd: "/", env: { PATH: "/usr/bin:/bin" } },
    );
    expect(made.exitCode).toBe(0);
    const result = await drover(["exec", "--config", config(dir), "--", "echo in the sandbox: $HOME"], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { TMPDIR: shared }),
    });
    expect(result.stdout).toContain("in the sandbox:");
    expect(result.exitCode).toBe(0);
    expect(readdirSync(trap)).toEqual([]);
    expect(result.stdout).not.toContain(`${trap}/`);
  });

  test("a base_dir another user owns is refused", async () => {
    using dir = tempDir();
    const base = join(dir.path, "base");
    mkdirSync(base);
    chownSync(base, 65534, 65534);
    const result = await drover(
      [
        "exec",
        "--config",
        config(dir, `    [runners.plugin.settings]\n      base_dir = "${base}"\n`),
        "--",
        "echo ran",
      ],
      { cwd: dir.path, env: cleanEnv(dir.path) },
    );
    expect(result.stdout).toContain(`base_dir is not trusted: ${base} is owned by uid 65534`);
    expect(result.stdout).not.toContain("ran\n");
    expect(result.exitCode).not.toBe(0);
  });
});
