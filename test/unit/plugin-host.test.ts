/**
 * The plugin host (src/plugin/host.ts and instance.ts, call-tracker.ts, liveness.ts) and the pool,
 * against real plugin processes: the fault executor fixture (test/fixtures/faults/fault-executor.ts,
 * the shell executor misbehaving on demand), started through the repository's bun.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DroverError } from "../../kernel/errors.ts";
import { PluginKind } from "../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
import type { ExecutorClient } from "../../kernel/protocol/clients.ts";
import { createLogger } from "../../src/log/logger.ts";
import { PluginHost } from "../../src/plugin/host.ts";
import { launchPlugin } from "../../src/plugin/launch.ts";
import { LIVENESS_PROBE_MS } from "../../src/plugin/liveness.ts";
import { PluginPool } from "../../src/plugin/pool.ts";
import { pluginSpec } from "../../src/plugin/spec.ts";
import { BUN, FIXTURES, type TempDir, tempDir, waitFor } from "../harness.ts";

const FAULT_EXECUTOR = join(FIXTURES, "faults", "fault-executor.ts");
const logger = createLogger({ level: "silent", pretty: false });
const options = { logger, handshakeTimeoutMs: 15_000 };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The fault executor as a plugin executable, with `mode` as its FAULT_MODE; its busy marker in `dir`. */
function faultPlugin(mode = ""): ReturnType<typeof pluginSpec> & { dir: string } {
  const dir: TempDir = tempDir();
  cleanups.push(() => dir[Symbol.dispose]());
  const quoted = [BUN, FAULT_EXECUTOR].map((a) => `'${a}'`).join(" ");
  const file = dir.file(
    "faulty",
    `#!/bin/sh\nFAULT_MODE='${mode}' FAULT_BUSY_MARKER='${dir.path}/busy' exec ${quoted} "$@"\n`,
    0o755,
  );
  return { ...pluginSpec("faulty", file), dir: dir.path };
}

function host(mode = ""): PluginHost & { dir: string } {
  const spec = faultPlugin(mode);
  const h = Object.assign(new PluginHost(spec, options), { dir: spec.dir });
  cleanups.push(() => h.shutdown());
  return h;
}

/** Starts `script` as one stage: what it printed so far, and how it ends. */
function startStage(executor: ExecutorClient, script: string, signal?: AbortSignal) {
  let text = "";
  const done = (async () => {
    let kind: number | undefined;
    for await (const event of executor.run(
      { jobId: "1", stage: "build_script", script },
      signal ? { signal } : {},
    )) {
      if (event.event.case === "output") text += new TextDecoder().decode(event.event.value.data);
      if (event.event.case === "result") kind = event.event.value.kind;
    }
    return { text, kind };
  })();
  done.catch(() => undefined);
  return { text: () => text, done };
}

const stage = (executor: ExecutorClient, script: string) => startStage(executor, script).done;

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function rejection(promise: Promise<unknown>): Promise<DroverError> {
  try {
    await promise;
  } catch (err) {
    expect(DroverError.is(err)).toBe(true);
    return err as DroverError;
  }
  throw new Error("expected a rejection");
}

describe("PluginHost", () => {
  test("starts on first use: GetInfo, then calls on the same process", async () => {
    const h = host();
    expect(h.pid).toBeUndefined();
    const info = await h.start();
    expect({ name: info.name, kind: info.kind }).toEqual({ name: "faulty", kind: PluginKind.EXECUTOR });
    const pid = h.pid;
    expect(alive(pid)).toBe(true);
    expect(await stage(await h.executor(), "echo hello")).toEqual({ text: "hello\n", kind: 1 });
    expect(h.pid).toBe(pid);
  });

  test("a plugin of the wrong kind is a configuration error naming both kinds", async () => {
    const error = await rejection(host().lifecycle());
    expect(error.code).toBe("config_invalid");
    expect(error.shortMessage).toBe('plugin "faulty" is an executor plugin, not a lifecycle plugin');
  });

  test("its death fails the call in flight at once, naming the plugin and the signal; the next call restarts it", async () => {
    const h = host();
    const executor = await h.executor();
    const first = h.pid!;
    const running = startStage(executor, "echo started; sleep 30");
    await waitFor("the stage to start", () => running.text() === "started\n");
    process.kill(first, "SIGKILL");
    const error = await rejection(running.done);
    expect(error.code).toBe("plugin_died");
    expect(error.shortMessage).toBe('plugin "faulty" died (signal SIGKILL)');
    expect(error.details).toMatchObject({ plugin: "faulty", rpc: "Executor/Run" });
    // A call on the dead process fails the same way, without waiting.
    expect((await rejection(stage(executor, "true"))).code).toBe("plugin_died");
    expect(await stage(await h.executor(), "echo again")).toEqual({ text: "again\n", kind: 1 });
    expect(h.restarts).toBe(1);
    expect(h.pid).not.toBe(first);
  });

  test("a plugin that answers nothing after a cancel is killed by the liveness probe", async () => {
    const h = host();
    const executor = await h.executor();
    const pid = h.pid;
    const cancel = new AbortController();
    const running = startStage(executor, "FAULT_BUSY_RUN", cancel.signal);
    await waitFor("the plugin to block", () => existsSync(join(h.dir, "busy")));
    cancel.abort("canceled");
    await rejection(running.done);
    await waitFor("the hung plugin to be killed", () => !alive(pid), LIVENESS_PROBE_MS + 5_000);
    const error = await rejection(stage(executor, "true"));
    expect(error.shortMessage).toContain("did not answer a health check");
  }, 20_000);

  test("shutdown stops the process and refuses new calls with a coded error", async () => {
    const h = host();
    await h.start();
    const pid = h.pid;
    await h.shutdown();
    expect(alive(pid)).toBe(false);
    const error = await rejection(h.executor());
    expect(error.code).toBe("plugin_closed");
    await h.shutdown(); // twice is fine
  });

  test("a plugin that ignores Shutdown is killed after the grace period", async () => {
    const h = host("ignore-shutdown");
    await h.start();
    const pid = h.pid;
    await h.shutdown();
    expect(alive(pid)).toBe(false);
  }, 15_000);

  test("adopt: the first call uses the process launched before the host existed", async () => {
    const spec = faultPlugin();
    const launching = launchPlugin(spec, options);
    const h = new PluginHost(spec, options);
    cleanups.push(() => h.shutdown());
    h.adopt(launching);
    await h.start();
    expect(h.pid).toBe((await launching).child.pid);
    expect(() => h.adopt(launching)).toThrow("adopt() needs a host that has not started");
  });

  test("a launch that fails is the first call's error, with the plugin's stderr", async () => {
    using dir = tempDir();
    const broken = dir.file("broken", "#!/bin/sh\necho 'cannot start: no license' >&2\nexit 3\n", 0o755);
    const h = new PluginHost(pluginSpec("broken", broken), options);
    const error = await rejection(h.start());
    expect(error.code).toBe("plugin_launch");
    expect(error.shortMessage).toBe('plugin "broken" exited before the handshake (exit code 3)');
    expect(error.details.stderrTail).toContain("cannot start: no license");
  });
});

describe("PluginPool", () => {
  test("one host per plugin command line, shared; shutdown stops them all", async () => {
    const pool = new PluginPool(options);
    cleanups.push(() => pool.shutdown());
    const a = faultPlugin();
    const b = faultPlugin();
    expect(pool.host(a)).toBe(pool.host({ ...a }));
    expect(pool.host(b)).not.toBe(pool.host(a));
    await Promise.all([pool.host(a).start(), pool.host(b).start()]);
    const pids = pool.hosts.map((h) => h.pid);
    expect(pids.every(alive)).toBe(true);
    await pool.shutdown();
    expect(pids.some(alive)).toBe(false);
  });

  test("kill: every plugin SIGKILLed now, and no new calls", async () => {
    const pool = new PluginPool(options);
    cleanups.push(() => pool.shutdown());
    const h = pool.host(faultPlugin());
    await h.start();
    const pid = h.pid;
    pool.kill();
    await waitFor("the plugin to be gone", () => !alive(pid));
    expect((await rejection(h.start())).code).toBe("plugin_closed");
  });
});
