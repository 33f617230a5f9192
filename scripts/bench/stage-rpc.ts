/**
 * d. per-stage overhead of a warm gRPC executor: through a started PluginHost on the built-in shell
 * plugin, Configure once, then `Run` calls of a no-op script (`true`) in a row, against the same
 * number of direct `bash --noprofile --norc <file>` spawns, which is what the shell plugin does for
 * each stage. The difference is what the protocol, the plugin's bookkeeping (script file, process
 * group, output merge) and the core's call tracking add to every stage of every job.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ResultKind, type StageResult } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import { Health } from "../../kernel/gen/grpc/health/v1/health_pb.ts";
import { startChild } from "../../kernel/process/child.ts";
import type { ExecutorClient } from "../../kernel/protocol/clients.ts";
import { createClient } from "../../kernel/protocol/grpc-service.ts";
import { grpcTarget, HEALTH_SERVICE_NAME } from "../../kernel/protocol/handshake.ts";
import { createLogger } from "../../src/log/logger.ts";
import { PluginHost } from "../../src/plugin/host.ts";
import { launchPlugin } from "../../src/plugin/launch.ts";
import { PLUGIN_MODE_COMMAND, pluginSpec } from "../../src/plugin/spec.ts";
import { configureBenchJob } from "./configure.ts";
import type { BenchContext } from "./context.ts";
import { compare, ms, type Row, spread, stats, timeCommand } from "./harness.ts";

const TARGET_ADDED_MS = 1;
/** Stages per measured run; the figure is the mean per stage of one run. */
const CALLS = 200;
const JOB_ID = "bench-stage-rpc";

/** The last event of a stage stream; throws unless it is a result. */
async function drain(events: AsyncIterable<{ event: { case: string | undefined; value?: unknown } }>) {
  let last: StageResult | undefined;
  for await (const e of events) if (e.event.case === "result") last = e.event.value as StageResult;
  if (!last) throw new Error("stage stream ended without a result");
  return last;
}

async function runTrue(executor: ExecutorClient): Promise<void> {
  const result = await drain(
    executor.run({ jobId: JOB_ID, stage: "build_script", script: "true\n", env: {} }),
  );
  if (result.kind !== ResultKind.SUCCESS) throw new Error(`Run failed: ${result.message}`);
}

export async function stageRpc(ctx: BenchContext): Promise<Row> {
  const logger = createLogger({ level: "error", pretty: false });
  const host = new PluginHost(pluginSpec("shell", ctx.drover, [PLUGIN_MODE_COMMAND, "shell"]), {
    logger,
    handshakeTimeoutMs: 10_000,
  });
  const script = join(ctx.dir("stage-rpc"), "true.sh");
  writeFileSync(script, "true\n", { mode: 0o700 });
  try {
    const executor = await host.executor();
    await configureBenchJob(executor, JOB_ID);

    const perCall = async (one: () => Promise<void> | void): Promise<number> => {
      const started = performance.now();
      for (let i = 0; i < CALLS; i++) await one();
      return (performance.now() - started) / CALLS;
    };
    // The floor spawns bash exactly as the shell plugin does (kernel/process/child.ts: its own
    // process group, scrubbed env, piped output), so the difference is the RPC path alone.
    const viaChild = async (): Promise<void> => {
      const child = startChild({
        name: "bash",
        command: "bash",
        args: ["--noprofile", "--norc", script],
        env: process.env,
        graceMs: 10_000,
      });
      child.stdout.resume();
      child.stderr.resume();
      const exit = await child.exited;
      if (exit.exitCode !== 0) throw new Error(`bash exited ${exit.exitCode ?? exit.signal}`);
    };
    const counts = { warmups: 1, runs: ctx.counts.runs };
    const { subject, floor } = await compare(
      () => perCall(() => runTrue(executor)),
      () => perCall(viaChild),
      counts,
    );
    // For reference: the cheapest spawn there is (spawnSync, no process group, no pipes).
    const direct = stats(
      Array.from({ length: counts.runs }, () => {
        let total = 0;
        for (let i = 0; i < CALLS; i++)
          total += timeCommand({ argv: ["bash", "--noprofile", "--norc", script] });
        return total / CALLS;
      }),
    );
    await drain(executor.cleanup({ jobId: JOB_ID }));
    const roundTrip = await unaryRoundTrip(ctx);
    const added = subject.median - floor.median;
    return {
      name: `stage RPC: ${CALLS}× Run(true)`,
      measured: `${spread(subject)}/stage`,
      floor: `${spread(floor)} bash`,
      ratio: `+${ms(added)}`,
      target: `≤ +${ms(TARGET_ADDED_MS)}`,
      met: added <= TARGET_ADDED_MS,
      notes: [
        `added per stage: ${ms(added)}; bash via spawnSync (no process group, no pipes) takes ${ms(direct.median)}, so the spawn path itself costs ${ms(floor.median - direct.median)} more`,
        `where it goes: a bare unary gRPC round trip to a warm shell plugin (Health.Check, ${ROUND_TRIPS} in a row) takes ${ms(roundTrip)}; the rest of the added time is the Run stream and the plugin's per-stage work (script file, spawn bookkeeping)`,
      ],
    };
  } finally {
    await host.shutdown();
  }
}

const ROUND_TRIPS = 1_000;

/**
 * Mean time of a unary call on a warm plugin connection: the protocol's own floor, below which no
 * RPC per stage can go. A plugin process of its own, launched as PluginHost does, Health.Check only.
 */
async function unaryRoundTrip(ctx: BenchContext): Promise<number> {
  const launched = await launchPlugin(pluginSpec("shell", ctx.drover, [PLUGIN_MODE_COMMAND, "shell"]), {
    logger: createLogger({ level: "error", pretty: false }),
    handshakeTimeoutMs: 10_000,
  });
  const channel = new grpc.Client(grpcTarget(launched.handshake.address), grpc.credentials.createInsecure());
  try {
    const health = createClient(Health, channel);
    const check = () => health.check({ service: HEALTH_SERVICE_NAME }, { timeoutMs: 5_000 });
    for (let i = 0; i < 100; i++) await check();
    const started = performance.now();
    for (let i = 0; i < ROUND_TRIPS; i++) await check();
    return (performance.now() - started) / ROUND_TRIPS;
  } finally {
    channel.close();
    launched.child.stop("shutdown");
    await launched.child.exited;
    rmSync(launched.socketDir, { recursive: true, force: true });
  }
}
