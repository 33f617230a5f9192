/**
 * c. plugin launch: spawn + handshake + health check + GetInfo of the built-in shell plugin, in
 * process, through the core's own PluginHost (the code `drover exec` uses for its first call),
 * then shutdown(). The floor is what any child costs: spawn and exit of `drover --version`
 * through the same process module (kernel/process/child.ts) the launcher uses.
 */

import { startChild } from "../../kernel/process/child.ts";
import { createLogger } from "../../src/log/logger.ts";
import { PluginHost } from "../../src/plugin/host.ts";
import { PLUGIN_MODE_COMMAND, pluginSpec } from "../../src/plugin/spec.ts";
import type { BenchContext } from "./context.ts";
import { compare, ms, type Row, ratio, spread, stats, timed } from "./harness.ts";

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
