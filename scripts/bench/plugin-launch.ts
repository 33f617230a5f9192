/**
 * c. plugin launch: spawn + handshake + health check + GetInfo of the built-in shell plugin, in
 * process, through the core's own PluginHost (the code `drover exec` uses for its first call),
 * then shutdown(). The floor is what any child costs: spawn and exit of `drover --version`
 * through the same process module (kernel/process/child.ts) the launcher uses.
 */

import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { startChild } from "../../kernel/process/child.ts";
import { createLogger } from "../../src/log/logger.ts";
import { PluginHost } from "../../src/plugin/host.ts";
import { readLock } from "../../src/plugin/install/lock.ts";
import { lockPath } from "../../src/plugin/install/plugin-dir.ts";
import { installedPluginSpec, PLUGIN_MODE_COMMAND, pluginSpec } from "../../src/plugin/spec.ts";
import { BUN, ROOT } from "../paths.ts";
import type { BenchContext } from "./context.ts";
import { compare, ms, type Row, ratio, spread, stats, timeCommand, timed } from "./harness.ts";

const TARGET_MS = 60;
const HANDSHAKE_TIMEOUT_MS = 10_000;

export async function pluginLaunch(ctx: BenchContext): Promise<Row> {
  const logger = createLogger({ level: "error", pretty: false });
  const spec = pluginSpec("shell", ctx.drover, [PLUGIN_MODE_COMMAND, "shell"]);
  const shutdowns: number[] = [];
  const launches: number[] = [];

  const launch = async (): Promise<number> => {
    const host = new PluginHost(spec, { logger, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS });
    const started = performance.now();
    const info = await host.start();
    const took = performance.now() - started;
    if (info.name !== "shell") throw new Error(`GetInfo answered name ${JSON.stringify(info.name)}`);
    shutdowns.push(await timed(() => host.shutdown()));
    launches.push(took);
    return took;
  };
  const bare = async (): Promise<number> => {
    const started = performance.now();
    const child = startChild({
      name: "drover --version",
      command: ctx.drover,
      args: ["--version"],
      env: process.env,
      graceMs: 2_000,
    });
    child.stdout.resume();
    child.stderr.resume();
    const exit = await child.exited;
    if (exit.exitCode !== 0) throw new Error(`drover --version: exit ${exit.exitCode ?? exit.signal}`);
    return performance.now() - started;
  };

  const { subject, floor } = await compare(launch, bare, ctx.counts);
  const down = stats(shutdowns.slice(ctx.counts.warmups));
  return {
    name: "plugin launch: shell → GetInfo",
    measured: spread(subject),
    floor: `${spread(floor)} spawn+exit`,
    ratio: ratio(subject.median, floor.median),
    target: `≤ ${TARGET_MS} ms`,
    met: subject.median <= TARGET_MS,
    notes: [
      `handshake + health + GetInfo add ${ms(subject.median - floor.median)} to a bare spawn; shutdown() takes ${spread(down)}`,
      // A one-shot `drover exec` pays the first launch of its process, with its gRPC code still cold.
      `first launch in this process (cold core, what a one-shot exec pays): ${ms(launches[0]!)}`,
    ],
  };
}

/**
 * c. plugin launch, installed: the same compiled plugin (examples/sandbox-executor, ~110 MiB) started
 * by name, through every check of an installed plugin (the lock, StrictModes from `/`, the file list,
 * the stamp that spares hashing, the launch through the checked descriptor: src/plugin/install/
 * trust.ts), against the same file started by path. docs/security.md promises the checks cost no
 * measurable time.
 */
export async function installedPluginLaunch(ctx: BenchContext): Promise<Row> {
  const logger = createLogger({ level: "error", pretty: false });
  const pluginDir = ctx.dir("plugins");
  install(ctx, pluginDir, compiledSandbox(ctx));
  const lock = lockPath(pluginDir);
  const entry = readLock(lock).plugins[0]!;
  const installed = installedPluginSpec(entry, lock);
  const byPath = pluginSpec(entry.name, entry.executable);
  const launch = (spec: typeof installed) => async () => {
    const host = new PluginHost(spec, { logger, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS });
    const took = await timed(() => host.start());
    await host.shutdown();
    return took;
  };
  const { subject, floor } = await compare(launch(installed), launch(byPath), ctx.counts);
  const added = subject.median - floor.median;
  return {
    name: "plugin launch: installed vs by path",
    measured: spread(subject),
    floor: `${spread(floor)} by path`,
    ratio: ratio(subject.median, floor.median),
    target: `≤ +${INSTALLED_TARGET_MS} ms`,
    met: added <= INSTALLED_TARGET_MS,
    notes: [
      `the checks of an installed plugin add ${ms(added)} to launching the same ${Math.round(statSync(entry.executable).size / 2 ** 20)} MiB file by path`,
    ],
  };
}

/** "Not measurably later" (docs/security.md): within what one launch varies by here. */
const INSTALLED_TARGET_MS = 3;

/**
 * c. plugin launch on drover's runtime: the same example plugin installed from its TypeScript
 * sources (bundled, run by the drover binary with its embedded runtime) against it compiled into
 * an executable of its own (`bun build --compile`, another ~110 MiB runtime copy), each through
 * `drover plugin inspect` (drover's start-up, every launch check, handshake, GetInfo, shutdown),
 * which is the same work for both but the plugin's start. Target: no slower than compiled.
 */
export async function runtimePluginLaunch(ctx: BenchContext): Promise<Row> {
  const onRuntime = ctx.dir("plugins-runtime");
  const compiled = ctx.dir("plugins-compiled");
  install(ctx, onRuntime, join(ROOT, "examples", "sandbox-executor", "main.ts"));
  install(ctx, compiled, compiledSandbox(ctx));
  const inspect = (pluginDir: string) => () =>
    timeCommand({
      argv: [ctx.drover, "plugin", "inspect", "sandbox"],
      cwd: ctx.cwd,
      env: { ...ctx.env, DROVER_PLUGIN_DIR: pluginDir },
    });
  const { subject, floor } = await compare(inspect(onRuntime), inspect(compiled), ctx.counts);
  const bundle = readLock(lockPath(onRuntime)).plugins[0]!;
  return {
    name: "plugin launch: drover's runtime vs compiled",
    measured: spread(subject),
    floor: `${spread(floor)} compiled`,
    ratio: ratio(subject.median, floor.median),
    target: "≤ compiled",
    met: subject.median <= floor.median,
    notes: [
      `drover plugin inspect of the sandbox example: a ${Math.round(statSync(bundle.executable).size / 1024)} KiB bundle on drover's runtime against its ${Math.round(statSync(readLock(lockPath(compiled)).plugins[0]!.executable).size / 2 ** 20)} MiB compiled executable; ${ms(subject.median - floor.median)} apart`,
    ],
  };
}

/** The sandbox example compiled into one executable, as a plugin author ships a Bun plugin. */
function compiledSandbox(ctx: BenchContext): string {
  const built = join(ctx.dir("build"), "sandbox-executor");
  if (existsSync(built)) return built;
  const compile = spawnSync(
    BUN,
    ["build", "--compile", join(ROOT, "examples", "sandbox-executor", "main.ts"), "--outfile", built],
    { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] },
  );
  if (compile.status !== 0) throw new Error(`compiling the sandbox example: ${String(compile.stderr)}`);
  return built;
}

function install(ctx: BenchContext, pluginDir: string, source: string): void {
  const result = spawnSync(ctx.drover, ["plugin", "install", source], {
    env: { ...ctx.env, DROVER_PLUGIN_DIR: pluginDir },
    stdio: ["ignore", "ignore", "pipe"],
  });
  if (result.status !== 0) throw new Error(`drover plugin install ${source}: ${String(result.stderr)}`);
}
