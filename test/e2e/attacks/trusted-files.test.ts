/**
 * Files another local user could change, trusted as if they were the administrator's (docs/security.md,
 * "Files drover trusts"): a hook script owned by `nobody` and world-writable, a world-writable
 * config.toml, a config.toml with runner tokens that every user can read.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, drover, ensureBuilt, tempDir } from "../../harness.ts";

ensureBuilt();

const NOBODY = 65534;

describe("hook scripts", () => {
  test("a hook owned by another user, world-writable: config check refuses it, and no job runs it", async () => {
    using dir = tempDir();
    const pwned = join(dir.path, "pwned-hook");
    const hook = dir.file("hook.sh", `touch ${pwned}\n`, 0o777);
    chownSync(hook, NOBODY, NOBODY);
    chmodSync(hook, 0o777);
    const config = dir.file("config.toml", `[hooks]\n  job_started = "${hook}"\n`, 0o600);
    const check = await drover(["config", "check", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(check.stdout).toContain(`hook ${hook}: refused: ${hook} is owned by uid ${NOBODY}`);
    expect(check.exitCode).toBe(78);
    const job = await drover(["exec", "--config", config, "--", "echo job"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(job.stdout).toContain(`Hook ${hook}: refusing to run it: ${hook} is owned by uid ${NOBODY}`);
    expect(job.exitCode).not.toBe(0);
    expect(existsSync(pwned)).toBe(false);
  });
});

describe("config.toml", () => {
  test("world-writable: refused by config check and by exec", async () => {
    using dir = tempDir();
    const config = dir.file("config.toml", '[[runners]]\n  name = "x"\n', 0o666);
    chmodSync(config, 0o666);
    const check = await drover(["config", "check", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(check.stdout).toContain(
      `${config}: not trusted (another local user could change what drover runs): ${config} is world-writable (mode 0666)`,
    );
    expect(check.exitCode).toBe(78);
    const job = await drover(["exec", "--config", config, "--", "echo job"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(job.stderr).toContain("is world-writable (mode 0666)");
    expect(job.stdout).not.toContain("job\n");
    expect(job.exitCode).toBe(78);
  });

  test("a directory on its path others can write (not sticky): refused", async () => {
    using dir = tempDir();
    chmodSync(dir.path, 0o777);
    const config = dir.file("config.toml", '[[runners]]\n  name = "x"\n', 0o600);
    const check = await drover(["config", "check", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(check.stdout).toContain(`${dir.path} is world-writable (mode 0777)`);
    expect(check.exitCode).toBe(78);
  });

  test("runner tokens in a file every user can read: a warning that says how to fix it", async () => {
    using dir = tempDir();
    const config = dir.file(
      "config.toml",
      '[[runners]]\n  name = "x"\n  url = "https://gitlab.example.com"\n  token = "glrt-secret"\n',
      0o644,
    );
    const check = await drover(["config", "check", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(check.stdout).toContain(
      `warning: ${config} holds runner tokens and is readable by every local user (mode 0644); fix with: chmod 600 ${config}`,
    );
    expect(check.exitCode).toBe(0);
  });
});
