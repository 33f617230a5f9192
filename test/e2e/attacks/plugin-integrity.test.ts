/**
 * Changing what drover runs as a plugin after it was installed and verified (docs/security.md,
 * "Plugins"): a file dropped into an installed plugin's directory, a plugin tree or a lock another
 * user can write, and a file swapped in (renameat2 RENAME_EXCHANGE) between the check and the start.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  FIXTURES,
  startProcess,
  type TempDir,
  tempDir,
  tsExecutable,
} from "../../harness.ts";

ensureBuilt();

const VERSIONED = join(FIXTURES, "plugins", "versioned-executor.ts");

/**
 * Installs the versioned fixture plugin in a private plugin dir, as an executable (one file) or from
 * its TypeScript source (bundled into plugin.js, run on drover's runtime); a config that names it.
 */
async function installed(dir: TempDir, as: "executable" | "script" = "executable") {
  const plugins = join(dir.path, "plugins");
  const env = cleanEnv(dir.path, { DROVER_PLUGIN_DIR: plugins });
  const run = (args: string[]) => drover(args, { cwd: dir.path, env });
  const source =
    as === "executable" ? tsExecutable(dir, "versioned-plugin", VERSIONED, ["1.0.0"]) : VERSIONED;
  const install = await run(["plugin", "install", source]);
  expect(install.exitCode).toBe(0);
  const config = dir.file(
    "config.toml",
    `[[runners]]\n  name = "vm"\n  executor = "plugin"\n  builds_dir = "${dir.path}/builds"\n  [runners.plugin]\n    name = "versioned"\n`,
  );
  const versionDir = join(plugins, "versioned", "1.0.0");
  const file = as === "executable" ? "versioned-plugin" : "plugin.js";
  return { plugins, versionDir, executable: join(versionDir, file), run, config };
}

describe("an installed plugin", () => {
  test("a file added to its directory after install refuses the launch, and plugin verify says so", async () => {
    using dir = tempDir();
    const p = await installed(dir);
    chmodSync(p.versionDir, 0o755 | 0o200);
    writeFileSync(join(p.versionDir, "sitecustomize.py"), "import os; os.system('touch /tmp/pwned')\n", {
      mode: 0o644,
    });
    chmodSync(p.versionDir, 0o755);
    const job = await p.run(["exec", "--config", p.config, "--", "echo must not run"]);
    expect(job.stdout).toContain(`sitecustomize.py is not part of the installed plugin`);
    expect(job.stdout).not.toContain("must not run\n");
    expect(job.exitCode).toBe(2);
    const verify = await p.run(["plugin", "verify"]);
    expect(verify.stdout).toContain("FAILED  versioned 1.0.0");
    expect(verify.stdout).toContain("sitecustomize.py is not part of the installed plugin");
    expect(verify.exitCode).toBe(2);
  });

  test("a plugin tree another user could write (0777) refuses the launch", async () => {
    using dir = tempDir();
    const p = await installed(dir);
    chmodSync(p.versionDir, 0o777);
    const job = await p.run(["exec", "--config", p.config, "--", "echo must not run"]);
    expect(job.stdout).toContain(
      `refusing to start plugin "versioned": ${p.versionDir} is world-writable (mode 0777)`,
    );
    expect(job.exitCode).toBe(2);
    expect((await p.run(["plugin", "verify"])).exitCode).toBe(2);
  });

  test("a plugin lock another user could write (0666) refuses the launch", async () => {
    using dir = tempDir();
    const p = await installed(dir);
    const lock = join(p.plugins, "drover-plugins.lock");
    chmodSync(lock, 0o666);
    const job = await p.run(["exec", "--config", p.config, "--", "echo must not run"]);
    expect(job.stdout).toContain(
      `refusing to start plugin "versioned": ${lock} is world-writable (mode 0666)`,
    );
    expect(job.exitCode).toBe(2);
  });

  test.each([
    ["an executable", "executable", "#!/bin/sh\ntouch PWNED\n"],
    ["a script on drover's runtime", "script", 'require("node:fs").writeFileSync("PWNED", "");\n'],
  ] as const)(
    "swapping another program in while drover launches %s: every launch runs the installed plugin or none",
    async (_, as, evilProgram) => {
      using dir = tempDir();
      const p = await installed(dir, as);
      const pwned = join(dir.path, "pwned-swap");
      // On the same file system, outside the plugin's directory, exchanged with it in a tight loop.
      const evil = join(p.plugins, "evil");
      writeFileSync(evil, evilProgram.replace("PWNED", pwned), { mode: 0o755 });
      const swapper = [
        "import ctypes, sys",
        "libc = ctypes.CDLL(None, use_errno=True)",
        "a, b = sys.argv[1].encode(), sys.argv[2].encode()",
        "while True:",
        "    libc.syscall(316, -100, a, -100, b, 2)  # renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)",
      ].join("\n");
      await using swapping = startProcess(["/usr/bin/python3", "-c", swapper, p.executable, evil], {
        cwd: dir.path,
        env: cleanEnv(dir.path),
      });
      let ran = 0;
      let refused = 0;
      for (let i = 0; i < 20; i++) {
        const job = await p.run(["exec", "--config", p.config, "--", "echo genuine plugin ran"]);
        if (job.stdout.includes("versioned plugin 1.0.0 preparing")) ran++;
        else if (job.stdout.includes('refusing to start plugin "versioned"')) refused++;
        else throw new Error(`neither ran nor refused:\n${job.stdout}\n${job.stderr}`);
      }
      swapping.kill("SIGKILL");
      expect(existsSync(pwned)).toBe(false);
      // The swap did happen (some launches found the other program in place and refused it), and the
      // installed plugin still ran whenever it was the one checked (odds of either being 0: 2^-20).
      expect({ ran: ran > 0, refused: refused > 0 }).toEqual({ ran: true, refused: true });
    },
    60_000,
  );
});
