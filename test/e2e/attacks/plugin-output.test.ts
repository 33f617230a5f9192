/**
 * A plugin that floods its stdout after the handshake (docs/security.md, "Plugins"): half a gigabyte
 * without a newline must not end up in drover's memory (go-plugin copies a plugin's later stdout into
 * the log line by line; drover keeps at most 64 KiB of a line).
 */
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanEnv,
  ensureBuilt,
  FIXTURES,
  startDrover,
  tempDir,
  tsExecutable,
  waitFor,
} from "../../harness.ts";

ensureBuilt();

/** A process's peak resident memory (VmHWM), in MiB. */
function peakMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmHWM:"));
  return Number(/(\d+)/.exec(line ?? "")?.[1] ?? Number.NaN) / 1024;
}

test("512 MiB on a plugin's stdout without a newline: drover's memory stays bounded, the job goes on", async () => {
  using dir = tempDir();
  const plugin = tsExecutable(dir, "flooding", join(FIXTURES, "attacks", "flooding-executor.ts"));
  const config = dir.file(
    "config.toml",
    `[[runners]]\n  name = "flood"\n  executor = "plugin"\n  builds_dir = "${dir.path}/builds"\n  [runners.plugin]\n    path = "${plugin}"\n`,
  );
  const go = join(dir.path, "go");
  await using run = startDrover(
    ["exec", "--config", config, "--", `until [ -e ${go} ]; do sleep 0.02; done`, "echo done"],
    {
      cwd: dir.path,
      env: cleanEnv(dir.path, { FLOOD_DIR: dir.path, FLOOD_BYTES: String(512 * 1024 * 1024) }),
    },
  );
  await waitFor(
    "the plugin to have written it all",
    () => {
      try {
        readFileSync(join(dir.path, "written"));
        return true;
      } catch {
        return false;
      }
    },
    60_000,
  );
  const peak = peakMiB(run.pid);
  writeFileSync(go, "");
  expect(await run.exited).toBe(0);
  expect(run.stdout()).toContain("done\n");
  // A drover running a job peaks near 90 MiB (docs/performance.md); half a gigabyte would show.
  expect(peak).toBeLessThan(200);
}, 90_000);
