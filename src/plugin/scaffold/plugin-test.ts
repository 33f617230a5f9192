/**
 * `drover plugin test [DIR]`: runs a plugin project's tests (`*.test.ts`, node:test's or bun:test's
 * API) with the test runner of drover's embedded runtime, against the SDK of this drover (the
 * project's `.drover/plugin-sdk` is refreshed first). Nothing is installed or fetched: the runtime
 * starts isolated (no .env, no bunfig.toml, no auto-install: kernel/process/child.ts).
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { DroverError } from "../../../kernel/errors.ts";
import { startChild } from "../../../kernel/process/child.ts";
import { MANIFEST_FILE } from "../install/manifest.ts";
import { writeSdkCopy } from "./sdk-copy.ts";

/** Runs the tests; returns the test runner's exit status (2 when it was killed by a signal). */
export async function testPlugin(dirArgument: string, signal: AbortSignal): Promise<number> {
  const dir = resolve(dirArgument);
  if (!existsSync(join(dir, MANIFEST_FILE)))
    throw new DroverError(
      "usage",
      `plugin test: ${dir} has no ${MANIFEST_FILE}; run it in a plugin project (drover plugin new makes one)`,
    );
  await writeSdkCopy(dir);
  const child = startChild({
    name: "the plugin's tests",
    command: process.execPath,
    args: [],
    cwd: dir,
    env: process.env,
    embeddedRuntime: "test",
    graceMs: 2_000,
    signal,
  });
  child.stdout.pipe(process.stdout, { end: false });
  child.stderr.pipe(process.stderr, { end: false });
  const exit = await child.exited;
  if (exit.startError) throw exit.startError;
  return exit.exitCode ?? 2;
}
