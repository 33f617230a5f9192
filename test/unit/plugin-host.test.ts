/**
 * The plugin host (src/plugin/host.ts and instance.ts, call-tracker.ts, liveness.ts) and the pool,
 * against real plugin processes: the fault executor fixture (test/fixtures/faults/fault-executor.ts,
 * the shell executor misbehaving on demand), started through the repository's bun.
 */
import { afterEach, describe, expect, test } from "bun:test";
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { DroverError } from "../../kernel/errors.ts";
import { PluginKind } from "../../kernel/gen/drover/plugin/v1/plugin_info_pb.ts";
import type { ExecutorClient } from "../../kernel/protocol/clients.ts";
import { createLogger } from "../../src/log/logger.ts";
import { PluginHost } from "../../src/plugin/host.ts";
import { launchPlugin } from "../../src/plugin/launch.ts";
import { LIVENESS_PROBE_MS } from "../../src/plugin/liveness.ts";
import { PluginPool } from "../../src/plugin/pool.ts";
import { removeAnnouncedSocket } from "../../src/plugin/post-mortem.ts";
import { pluginSpec } from "../../src/plugin/spec.ts";
import { BUN, FIXTURES, type TempDir, tempDir, waitFor } from "../harness.ts";

const FAULT_EXECUTOR = join(FIXTURES, "faults", "fault-executor.ts");
const logger = createLogger({ level: "silent", pretty: false });
const options = { logger, handshakeTimeoutMs: 15_000 };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * The fault executor as a plugin executable, with `mode` as its FAULT_MODE; its busy marker in `dir`.
 * `socketDir`: where it puts its socket instead of drover's PLUGIN_UNIX_SOCKET_DIR (as go-plugin
 * before 1.5 does, which ignores that variable).
 */
function faultPlugin(mode = "", socketDir?: string): ReturnType<typeof pluginSpec> & { dir: string } {
  const dir: TempDir = tempDir();
  cleanups.push(() => dir[Symbol.dispose]());
  const quoted = [BUN, FAULT_EXECUTOR].map((a) => `'${a}'`).join(" ");
  const elsewhere = socketDir === undefined ? "" : `PLUGIN_UNIX_SOCKET_DIR='${socketDir}' `;
  const file = dir.file(
    "faulty",
    `#!/bin/sh\n${elsewhere}FAULT_MODE='${mode}' FAULT_BUSY_MARKER='${dir.path}/busy' exec ${quoted} "$@"\n`,
    0o755,
  );
  return { ...pluginSpec("faulty", file), dir: dir.path };
}

function host(mode = "", socketDir?: string): PluginHost & { dir: string } {
  const spec = faultPlugin(mode, socketDir);
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

  test("kill: the call in flight fails saying that drover stopped the plugin, and why; so do new calls", async () => {
    const h = host();
    const executor = await h.executor();
    const running = startStage(executor, "echo started; sleep 30");
    await waitFor("the stage to start", () => running.text() === "started\n");
    h.kill();
    const error = await rejection(running.done);
    expect({ code: error.code, message: error.shortMessage, details: error.details }).toEqual({
      code: "plugin_closed",
      message: 'plugin "faulty" was stopped by drover: the run was aborted',
      details: { plugin: "faulty", rpc: "Executor/Run" },
    });
    const refused = await rejection(h.executor());
    expect({ code: refused.code, message: refused.shortMessage }).toEqual({
      code: "plugin_closed",
      message: 'plugin "faulty" was stopped by drover: the run was aborted; no new calls are accepted',
    });
  });

  test("a hard abort just after a cancel: the liveness probe does not blame the plugin drover is killing", async () => {
    // The order of a second Ctrl-C: the job's calls are cancelled (which starts a liveness probe),
    // then every plugin is killed, while the call that outlives an abort (Cleanup) is in flight.
    const log = tempDir();
    cleanups.push(() => log[Symbol.dispose]());
    const fd = openSync(join(log.path, "log"), "w");
    cleanups.push(() => closeSync(fd));
    const spec = faultPlugin();
    const h = Object.assign(
      new PluginHost(spec, {
        ...options,
        logger: createLogger({ level: "info", pretty: false, destinationFd: fd }),
      }),
      { dir: spec.dir },
    );
    cleanups.push(() => h.shutdown());
    const executor = await h.executor();
    const pid = h.pid;
    const cleanup = startStage(executor, "echo cleaning; sleep 30");
    await waitFor("the long call to start", () => cleanup.text() === "cleaning\n");
    const cancel = new AbortController();
    const stage = startStage(executor, "FAULT_BUSY_RUN", cancel.signal);
    await waitFor("the plugin to block", () => existsSync(join(h.dir, "busy")));
    cancel.abort("canceled");
    await rejection(stage.done);
    h.kill("the run was aborted");
    const error = await rejection(cleanup.done);
    expect(error.shortMessage).toBe('plugin "faulty" was stopped by drover: the run was aborted');
    // The probe's health check fails when the connection drops, around the exit: both are in by now.
    await waitFor("the plugin to be gone", () => !alive(pid));
    await Bun.sleep(0);
    expect(readFileSync(join(log.path, "log"), "utf8")).not.toContain("health check");
  });

  test("shutdown: a call still in flight when the grace period ends fails saying that drover stopped the plugin", async () => {
    // (A plugin that honours Shutdown ends its calls itself, as it likes: the SDK's end their stages.)
    const h = host("ignore-shutdown");
    const executor = await h.executor();
    const running = startStage(executor, "echo started; sleep 30");
    await waitFor("the stage to start", () => running.text() === "started\n");
    await h.shutdown();
    const error = await rejection(running.done);
    expect({ code: error.code, message: error.shortMessage }).toEqual({
      code: "plugin_closed",
      message: 'plugin "faulty" was stopped by drover: drover is shutting down',
    });
  }, 15_000);

  test("a socket announced outside drover's socket dir is removed when the plugin dies, and nothing else", async () => {
    using outside = tempDir();
    const neighbour = outside.file("neighbour", "");
    const h = host("", outside.path);
    await h.start();
    const [socket] = readdirSync(outside.path).filter((name) => name.endsWith(".sock"));
    expect(socket).toBeDefined();
    expect(lstatSync(join(outside.path, socket!)).isSocket()).toBe(true);
    process.kill(h.pid!, "SIGKILL");
    await waitFor("the socket to be removed", () => !existsSync(join(outside.path, socket!)));
    expect(readdirSync(outside.path)).toEqual(["neighbour"]);
    expect(existsSync(neighbour)).toBe(true);
  });

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

describe("removeAnnouncedSocket", () => {
  /** A listening unix socket at `path`, closed at the end of the test. */
  async function listen(path: string): Promise<void> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  }
  const at = (path: string, socketDir = "/nonexistent/drover-plugin-x") => ({
    handshake: { ...handshakeAt(path) },
    socketDir,
  });
  function handshakeAt(path: string) {
    return {
      coreVersion: 1,
      appVersion: 1,
      address: { network: "unix" as const, path },
      serverCert: undefined,
      multiplexing: false,
    };
  }

  test("removes the exact socket announced, when it is a socket outside the socket dir", async () => {
    using dir = tempDir();
    const socket = join(dir.path, "plugin123456789");
    await listen(socket);
    expect(removeAnnouncedSocket(at(socket))).toBe(socket);
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(dir.path)).toBe(true);
  });

  test("leaves alone what is not a socket any more, a symlink, a directory, and the socket dir's own", async () => {
    using dir = tempDir();
    const file = dir.file("plugin1", "someone's file");
    const directory = join(dir.path, "plugin2");
    mkdirSync(directory);
    writeFileSync(join(directory, "inside"), "");
    const real = join(dir.path, "real.sock");
    await listen(real);
    const link = join(dir.path, "plugin3");
    symlinkSync(real, link);
    const socketDir = join(dir.path, "drover-plugin-x");
    mkdirSync(socketDir);
    const own = join(socketDir, "plugin.sock");
    await listen(own);
    for (const [path, dirGiven] of [
      [file, undefined],
      [directory, undefined],
      [link, undefined],
      [join(dir.path, "gone"), undefined],
      [own, socketDir],
    ] as const) {
      expect(removeAnnouncedSocket(at(path, dirGiven))).toBeUndefined();
    }
    expect(readdirSync(dir.path).sort()).toEqual([
      "drover-plugin-x",
      "plugin1",
      "plugin2",
      "plugin3",
      "real.sock",
    ]);
    expect(readdirSync(socketDir)).toEqual(["plugin.sock"]);
    expect(readdirSync(directory)).toEqual(["inside"]);
    const tcp = {
      handshake: { ...handshakeAt(""), address: { network: "tcp" as const, host: "127.0.0.1", port: 1 } },
    };
    expect(removeAnnouncedSocket({ ...tcp, socketDir })).toBeUndefined();
  });
});
