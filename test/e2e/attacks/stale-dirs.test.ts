/**
 * A drover in another PID namespace (a container) sharing this host's TMPDIR (docs/security.md,
 * "Temp dirs"): its pids mean nothing here, so the stale-dir sweep of a drover starting on the host
 * must not take its live socket and script dirs for leftovers, or its next stage fails.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, DROVER, drover, ensureBuilt, startProcess, tempDir, waitFor } from "../../harness.ts";

ensureBuilt();

test("the sweep of a drover on the host leaves a drover in another PID namespace alone", async () => {
  using dir = tempDir();
  const tmp = join(dir.path, "tmp");
  mkdirSync(tmp);
  const go = join(dir.path, "go");
  const env = cleanEnv(dir.path, { TMPDIR: tmp });
  // The inner drover, in its own PID namespace (and /proc), with the same TMPDIR: one job that
  // waits between two stages.
  await using inner = startProcess(
    [
      "unshare",
      "--pid",
      "--fork",
      "--mount-proc",
      "--kill-child",
      DROVER,
      "exec",
      "--",
      `echo waiting; until [ -e ${go} ]; do sleep 0.02; done`,
      "echo second stage ran",
    ],
    { cwd: dir.path, env },
  );
  await inner.waitForStdout("waiting\n");
  const before = readdirSync(tmp).sort();
  expect(before.some((name) => name.startsWith("drover-plugin-o"))).toBe(true);
  expect(before.some((name) => name.startsWith("drover-shell-o"))).toBe(true);

  // A drover starting on the host sweeps the same TMPDIR.
  const outer = await drover(["--log-level", "info", "exec", "--", "true"], { cwd: dir.path, env });
  expect(outer.exitCode).toBe(0);
  expect(outer.stderr).not.toContain("removed temp dirs left behind");
  for (const name of before) expect([name, existsSync(join(tmp, name))]).toEqual([name, true]);

  writeFileSync(go, "");
  expect(await inner.exited).toBe(0);
  expect(inner.stdout()).toContain("second stage ran");
  await waitFor("the inner drover's dirs to go", () => readdirSync(tmp).length === 0);
});
