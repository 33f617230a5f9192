/**
 * Runs the SDK's Node tests (sdk.node.mjs) with plain `node --test`, so that `bun test` (and so
 * `npm test`) fails when the published SDK stops working under Node.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { cleanEnv, ensureBuilt, ROOT, tempDir } from "../harness.ts";

test("@drover/plugin-sdk passes its tests under plain Node >= 20 (node --test)", () => {
  ensureBuilt();
  using home = tempDir();
  // No BUN_* or NODE_OPTIONS from this process: node runs as a plugin author's would.
  const env = cleanEnv(home.path);
  const version = Bun.spawnSync(["node", "--version"], { env, stdout: "pipe", stderr: "pipe" });
  expect(version.exitCode).toBe(0);
  expect(Number(/^v(\d+)\./.exec(version.stdout.toString())?.[1])).toBeGreaterThanOrEqual(20);

  const run = Bun.spawnSync(
    ["node", "--test", "--test-reporter=spec", join(ROOT, "test", "sdk-node", "sdk.node.mjs")],
    {
      cwd: ROOT,
      env,
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const output = `${run.stdout.toString()}${run.stderr.toString()}`;
  // The whole report on failure, so that the failing Node test is named.
  expect({ exitCode: run.exitCode, output: run.exitCode === 0 ? "" : output }).toEqual({
    exitCode: 0,
    output: "",
  });
  expect(output).toMatch(/ℹ pass [1-9]\d*\n/);
  expect(output).toContain("ℹ fail 0\n");
}, 180_000);
