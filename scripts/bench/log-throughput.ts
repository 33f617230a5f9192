/**
 * f. log throughput: a job whose script prints 512 MiB (`cat` of a pre-made file of log lines)
 * through the shell executor, `drover exec` with its stdout (the job log) redirected to a file and
 * one masked variable active, against `cat` of the same file into a file. The figure is the whole
 * command as a user waits for it (start-up and the job's other stages included, ~0.1 s).
 *
 * The job log's `output_limit` applies to `drover exec` too (src/cli/exec.ts), so the config sets
 * it above the log's size, and every run checks that the whole log reached the file, masked.
 *
 * The core's memory must not grow with the log's size: its peak RSS (VmHWM, polled from /proc) at
 * 512 MiB is compared with the same job printing 64 MiB. Where the time goes is measured piece by
 * piece in this process: reading a child's pipe (the plugin's side), the JobLog's masking and
 * writing (the core's side), and the plugin's Run stream over gRPC without a log, with grpc-js's
 * default HTTP/2 flow-control window (what the core uses) and with a large one.
 */
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Executor } from "../../kernel/gen/drover/plugin/v1/executor_pb.ts";
import { ResultKind } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import { startChild } from "../../kernel/process/child.ts";
import { createClient } from "../../kernel/protocol/grpc-service.ts";
import { grpcTarget } from "../../kernel/protocol/handshake.ts";
import { MAX_MESSAGE_BYTES } from "../../kernel/protocol/limits.ts";
import { JobLog } from "../../src/log/job-log.ts";
import { createLogger } from "../../src/log/logger.ts";
import { fdSink } from "../../src/log/sinks.ts";
import { launchPlugin } from "../../src/plugin/launch.ts";
import { PLUGIN_MODE_COMMAND, pluginSpec } from "../../src/plugin/spec.ts";
import { configureBenchJob } from "./configure.ts";
import type { BenchContext } from "./context.ts";
import { compare, type Row, type Stats, stats, timed } from "./harness.ts";
import { jobJson, toml, writeJob } from "./jobs.ts";
import { mib, ProcWatch, readProc, type WatchResult } from "./proc.ts";

const MIB = 1024 ** 2;
const BIG = 512 * MIB;
const SMALL = 64 * MIB;
const TARGET_MBPS = 300;
/** Peak RSS at 512 MiB over peak RSS at 64 MiB: above this, memory grows with the log. */
const RSS_GROWTH_LIMIT = 1.1;
const SECRET = "s3cr3t-bench-7f2a9c41";
/** What the JobLog is fed in the in-process measurement: a pipe's usual read size. */
const CHUNK = 64 * 1024;
const COUNTS = { warmups: 1, runs: 5 };
const SMALL_RUNS = 3;
const OUTPUT_LIMIT_KIB = (4 * BIG) / 1024;

export async function logThroughput(ctx: BenchContext): Promise<Row[]> {
  const work = ctx.dir("log");
  const big = makeLogFile(join(work, "big.log"), BIG);
  const small = makeLogFile(join(work, "small.log"), SMALL);
  const config = join(work, "config.toml");
  writeFileSync(
    config,
    [
      "[[runners]]",
      '  name = "shell"',
      '  executor = "shell"',
      `  builds_dir = ${toml(join(work, "builds"))}`,
      // KiB: above the largest log here (1 GiB), so that nothing is cut.
      `  output_limit = ${OUTPUT_LIMIT_KIB}`,
      "",
    ].join("\n"),
  );
  const secret = [{ key: "BENCH_SECRET", value: SECRET, public: false, masked: true }];
  const job = (name: string, ...files: string[]) =>
    writeJob(
      work,
      name,
      jobJson(6000, ['echo "masked: $BENCH_SECRET"', `cat ${files.map(shq).join(" ")}`], secret),
    );
  const bigJob = job("big", big);
  const smallJob = job("small", small);
  const hugeJob = job("huge", big, big);
  const out = join(work, "out.log");

  const runs: RunFacts[] = [];
  const drover = async (jobFile: string, bytes: number): Promise<RunFacts> => {
    const fd = openSync(out, "w");
    const started = performance.now();
    let proc: ReturnType<typeof Bun.spawn>;
    try {
      proc = Bun.spawn([ctx.drover, "exec", "--config", config, jobFile], {
        cwd: ctx.cwd,
        env: ctx.env,
        stdin: "ignore",
        stdout: fd,
        stderr: "pipe",
      });
    } finally {
      closeSync(fd);
    }
    const watch = new ProcWatch(proc.pid);
    const stderr = new Response(proc.stderr as ReadableStream<Uint8Array>).text();
    const code = await proc.exited;
    const wallMs = performance.now() - started;
    const usage = watch.stop();
    if (code !== 0)
      throw new Error(`drover exec of ${bytes} bytes exited with ${code}: ${(await stderr).trim()}`);
    return { wallMs, usage, ...checkLog(out, bytes) };
  };
  const floorOut = join(work, "floor.log");
  const cat = () =>
    timed(() => {
      const fd = openSync(floorOut, "w");
      try {
        const result = spawnSync("cat", [big], { stdio: ["ignore", fd, "pipe"] });
        if (result.status !== 0)
          throw new Error(`cat exited with ${result.status}: ${String(result.stderr)}`);
      } finally {
        closeSync(fd);
      }
    });

  const { subject, floor } = await compare(
    async () => {
      const facts = await drover(bigJob, BIG);
      runs.push(facts);
      return facts.wallMs;
    },
    cat,
    COUNTS,
  );
  const measured = runs.slice(COUNTS.warmups);
  // Before the 1 GiB run: its dirty pages being written back slow down file writes for a while.
  const where = await breakdown(ctx, big, work);
  const smallRuns: RunFacts[] = [];
  for (let i = 0; i < SMALL_RUNS; i++) smallRuns.push(await drover(smallJob, SMALL));
  // Once at 1 GiB: does the peak keep rising with the log, or level off?
  const huge = await drover(hugeJob, 2 * BIG);

  const bigHwm = stats(measured.map((r) => r.usage.core?.hwmKiB ?? 0));
  const smallHwm = stats(smallRuns.map((r) => r.usage.core?.hwmKiB ?? 0));
  const median = (pick: (r: RunFacts) => number) => stats(measured.map(pick)).median;
  const rate = mbps(BIG, subject.median);
  const growth = bigHwm.median / smallHwm.median;
  const last = measured[measured.length - 1]!;
  const coreCpu = median((r) => r.usage.core?.cpuMs ?? 0);
  const pluginCpu = median((r) => r.usage.plugins.cpuMs);
  return [
    {
      name: "log throughput: 512 MiB, 1 mask",
      measured: rateSpread(BIG, subject),
      floor: `${rateSpread(BIG, floor)} cat`,
      ratio: `×${(subject.median / floor.median).toFixed(1)}`,
      target: `≥ ${TARGET_MBPS} MB/s`,
      met: rate >= TARGET_MBPS,
      notes: [
        `MB = 10^6 bytes; whole command wall time (${(subject.median / 1000).toFixed(2)} s median); the build_script stage alone: ${formatRate(BIG / (median((r) => r.stageMs) / 1000) / 1e6)} (from its section line)`,
        `each run checked: ${last.size} bytes in the file (${BIG} of output + drover's lines), "masked: [MASKED]" present, the secret absent; output_limit = ${OUTPUT_LIMIT_KIB} KiB`,
        `CPU per run (medians): core ${seconds(coreCpu)}, shell plugin ${seconds(pluginCpu)}, over ${seconds(subject.median)} of wall on ${cpus().length} CPUs; alone, each one's CPU per byte would cap the rate at: core ${formatRate(mbps(BIG, coreCpu))}, plugin ${formatRate(mbps(BIG, pluginCpu))}`,
        `where it goes (each once, in-process): a child's pipe read through startChild (the plugin's input) ${formatRate(where.pipe)}; JobLog mask + write, ${CHUNK / 1024} KiB chunks (the core's output): to a file ${formatRate(where.jobLogFile)}, to /dev/null ${formatRate(where.jobLogNull)}`,
        `where it goes: the plugin's Run stream over gRPC into a client here, no log: ${streamNote(where.stream)}; with the client's HTTP/2 window at ${BIG_WINDOW / MIB} MiB instead of grpc-js's 64 KiB: ${streamNote(where.bigWindow)}`,
      ],
    },
    {
      name: "core peak RSS: 512 vs 64 MiB log",
      measured: `${mib(bigHwm.median)} (${mib(bigHwm.min).replace(" MiB", "")}–${mib(bigHwm.max).replace(" MiB", "")})`,
      floor: `${mib(smallHwm.median)} (${mib(smallHwm.min).replace(" MiB", "")}–${mib(smallHwm.max).replace(" MiB", "")}) 64 MiB`,
      ratio: `×${growth.toFixed(2)}`,
      target: `≤ ×${RSS_GROWTH_LIMIT.toFixed(2)}`,
      met: growth <= RSS_GROWTH_LIMIT,
      notes: [
        `VmHWM of the drover exec process, ${COUNTS.runs} runs at 512 MiB, ${SMALL_RUNS} at 64 MiB; one run at 1 GiB: ${mib(huge.usage.core?.hwmKiB ?? 0)} (${formatRate(mbps(2 * BIG, huge.wallMs))})`,
        `the shell plugin's peak: ${mib(stats(measured.map((r) => r.usage.plugins.hwmKiB)).median)} at 512 MiB, ${mib(stats(smallRuns.map((r) => r.usage.plugins.hwmKiB)).median)} at 64 MiB`,
      ],
    },
  ];
}

interface RunFacts {
  wallMs: number;
  usage: WatchResult;
  /** Size of the log file. */
  size: number;
  /** The build_script stage's duration from its section line. */
  stageMs: number;
}

/** The log reached the file whole, masked, and the job succeeded; returns its size and stage time. */
function checkLog(file: string, bytes: number): { size: number; stageMs: number } {
  const size = statSync(file).size;
  if (size < bytes) throw new Error(`the job log has ${size} bytes, the script printed ${bytes}: cut short`);
  const fd = openSync(file, "r");
  try {
    const read = (position: number) => {
      const buffer = Buffer.alloc(4096);
      return buffer.toString("utf8", 0, readSync(fd, buffer, 0, buffer.length, position));
    };
    const head = read(0);
    const tail = read(Math.max(0, size - 4096));
    if (!head.includes("masked: [MASKED]") || head.includes(SECRET))
      throw new Error("the masked variable was not masked in the job log");
    if (!tail.includes("Job succeeded")) throw new Error(`the job did not succeed: ${tail.slice(-300)}`);
    const stage = /build_script (\d+(?:\.\d+)?)s/.exec(tail);
    if (!stage) throw new Error("no build_script section line at the end of the job log");
    return { size, stageMs: Number(stage[1]) * 1000 };
  } finally {
    closeSync(fd);
  }
}

/** A file of `bytes` bytes of plausible log lines (compiler-ish output, 60–90 bytes a line). */
function makeLogFile(path: string, bytes: number): string {
  const lines: string[] = [];
  let length = 0;
  for (let n = 0; length < MIB; n++) {
    const line = `[${String(n).padStart(6, "0")}] compiling src/module_${n % 97}.ts (${(n * 7919) % 100000} bytes) ok in ${n % 13}ms\n`;
    lines.push(line);
    length += line.length;
  }
  const block = Buffer.from(lines.join("")).subarray(0, MIB);
  block[MIB - 1] = 0x0a;
  const fd = openSync(path, "w");
  try {
    for (let written = 0; written < bytes; written += MIB) writeSync(fd, block);
  } finally {
    closeSync(fd);
  }
  return path;
}

interface Breakdown {
  /** MB/s of a child's pipe read through startChild. */
  pipe: number;
  /** MB/s of the JobLog (one mask) writing to a file, and to /dev/null (its CPU cost alone). */
  jobLogFile: number;
  jobLogNull: number;
  /** The plugin's Run stream into a gRPC client in this process, no log. */
  stream: StreamFacts;
  /** The same with the client's HTTP/2 flow-control window at BIG_WINDOW instead of 64 KiB. */
  bigWindow: StreamFacts;
}

interface StreamFacts {
  rate: number;
  ms: number;
  chunkBytes: number;
  pluginCpuMs: number;
  clientCpuMs: number;
}

/** A flow-control window that never runs dry between two reads of the core. */
const BIG_WINDOW = 16 * MIB;

/** MB/s of the pieces of the path, each measured once over the whole file. */
async function breakdown(ctx: BenchContext, file: string, work: string): Promise<Breakdown> {
  const bytes = statSync(file).size;

  // The plugin's input: a child's stdout read through the process module the shell plugin uses.
  let piped = 0;
  const pipeMs = await timed(async () => {
    const child = startChild({ name: "cat", command: "cat", args: [file], env: process.env, graceMs: 5_000 });
    child.stderr.resume();
    for await (const chunk of child.stdout) piped += (chunk as Buffer).length;
    await child.exited;
  });
  if (piped !== bytes) throw new Error(`startChild read ${piped} of ${bytes} bytes`);

  // The core's output: the JobLog (masker, fd sink), fed the file's first MiB over and over.
  const block = Buffer.alloc(MIB);
  const input = openSync(file, "r");
  readSync(input, block, 0, MIB, 0);
  closeSync(input);
  const jobLog = async (path: string) => {
    const fd = openSync(path, "w");
    try {
      return await timed(() => {
        const log = new JobLog({ sink: fdSink(fd), color: false, masks: [SECRET] });
        for (let done = 0; done < bytes; done += MIB)
          for (let at = 0; at < MIB; at += CHUNK) log.output(block.subarray(at, at + CHUNK));
        log.flush();
      });
    } finally {
      closeSync(fd);
    }
  };
  const jobLogFile = mbps(bytes, await jobLog(join(work, "joblog.log")));
  const jobLogNull = mbps(bytes, await jobLog("/dev/null"));

  // The plugin's Run stream, no JobLog: one shell plugin, launched as PluginHost does, and a client
  // in this process, once with grpc-js's default window (what drover uses) and once with a big one.
  const launched = await launchPlugin(pluginSpec("shell", ctx.drover, [PLUGIN_MODE_COMMAND, "shell"]), {
    logger: createLogger({ level: "error", pretty: false }),
    handshakeTimeoutMs: 10_000,
  });
  try {
    const through = (window: number | undefined) =>
      streamThrough(launched.handshake.address, launched.child.pid, file, bytes, window);
    const stream = await through(undefined);
    const bigWindow = await through(BIG_WINDOW);
    return { pipe: mbps(bytes, pipeMs), jobLogFile, jobLogNull, stream, bigWindow };
  } finally {
    launched.child.stop("shutdown");
    await launched.child.exited;
    rmSync(launched.socketDir, { recursive: true, force: true });
  }
}

/** Configure, Run(`cat file`) drained without a log, Cleanup, over a channel of its own. */
async function streamThrough(
  address: Parameters<typeof grpcTarget>[0],
  pluginPid: number | undefined,
  file: string,
  bytes: number,
  window: number | undefined,
): Promise<StreamFacts> {
  const channel = new grpc.Client(grpcTarget(address), grpc.credentials.createInsecure(), {
    // As src/plugin/host.ts.
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    ...(window === undefined ? {} : { "grpc-node.flow_control_window": window }),
  });
  try {
    const executor = createClient(Executor, channel);
    const jobId = `bench-log-${window ?? "default"}`;
    await configureBenchJob(executor, jobId);
    let streamed = 0;
    let events = 0;
    const pluginBefore = readProc(pluginPid ?? -1)?.cpuMs ?? 0;
    const clientBefore = process.cpuUsage();
    const ms = await timed(async () => {
      for await (const e of executor.run({
        jobId,
        stage: "build_script",
        script: `cat ${shq(file)}\n`,
        env: {},
      })) {
        if (e.event.case === "output") {
          streamed += e.event.value.data.length;
          events++;
        } else if (e.event.case === "result" && e.event.value.kind !== ResultKind.SUCCESS) {
          throw new Error(`Run failed: ${e.event.value.message}`);
        }
      }
    });
    const client = process.cpuUsage(clientBefore);
    const pluginCpuMs = (readProc(pluginPid ?? -1)?.cpuMs ?? 0) - pluginBefore;
    for await (const _ of executor.cleanup({ jobId })) {
      // drain
    }
    if (streamed !== bytes) throw new Error(`the Run stream carried ${streamed} of ${bytes} bytes`);
    return {
      rate: mbps(bytes, ms),
      ms,
      chunkBytes: streamed / Math.max(1, events),
      pluginCpuMs,
      clientCpuMs: (client.user + client.system) / 1000,
    };
  } finally {
    channel.close();
  }
}

function streamNote(s: StreamFacts): string {
  return `${formatRate(s.rate)} (${(s.chunkBytes / 1024).toFixed(0)} KiB per output event; CPU: plugin ${seconds(s.pluginCpuMs)}, client ${seconds(s.clientCpuMs)} over ${seconds(s.ms)})`;
}

function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

function formatRate(value: number): string {
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} MB/s`;
}

/** "124 MB/s (110–130)" from the spread of times (the fastest run is the highest rate). */
function rateSpread(bytes: number, s: Stats): string {
  const r = (ms: number) => formatRate(mbps(bytes, ms)).replace(" MB/s", "");
  return `${r(s.median)} MB/s (${r(s.max)}–${r(s.min)})`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** A word for bash, single-quoted. */
function shq(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}
