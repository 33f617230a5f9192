import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { IdleCollector, type Timers } from "../../src/daemon/idle-gc.ts";
import { BUN, ROOT, runProcess } from "../harness.ts";

/** A clock that moves only when the test says so: `tick(ms)` runs the callbacks that fall due. */
function fakeClock() {
  let now = 0;
  let nextHandle = 1;
  const pending = new Map<number, { at: number; callback: () => void }>();
  const timers: Timers = {
    setTimeout(callback, ms) {
      const handle = nextHandle++;
      pending.set(handle, { at: now + ms, callback });
      return handle;
    },
    clearTimeout(handle) {
      pending.delete(handle as number);
    },
  };
  return {
    timers,
    /** Timers waiting to fire. */
    get pending() {
      return pending.size;
    },
    /** Moves the clock `ms` forward, firing what falls due in time order. */
    tick(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = [...pending].filter(([, t]) => t.at <= end).sort(([, a], [, b]) => a.at - b.at)[0];
        if (!due) break;
        const [handle, { at, callback }] = due;
        pending.delete(handle);
        now = at;
        callback();
      }
      now = end;
    },
  };
}

describe("IdleCollector", () => {
  test("collects once, after the runner has stayed idle for the delay", () => {
    const clock = fakeClock();
    let collections = 0;
    const gc = new IdleCollector({ collect: () => collections++, delayMs: 20, timers: clock.timers });
    gc.idle();
    clock.tick(19);
    expect(collections).toBe(0);
    clock.tick(1);
    expect(collections).toBe(1);
    clock.tick(1_000);
    expect(collections).toBe(1);
    expect(clock.pending).toBe(0);
  });

  test("a job that starts within the delay cancels the collection; the next idle starts it again", () => {
    const clock = fakeClock();
    let collections = 0;
    const gc = new IdleCollector({ collect: () => collections++, delayMs: 30, timers: clock.timers });
    gc.idle();
    clock.tick(5);
    gc.busy();
    clock.tick(60);
    expect(collections).toBe(0);
    gc.idle();
    clock.tick(10);
    gc.idle(); // a second job ending a little later: still one collection, the delay counted anew
    clock.tick(29);
    expect(collections).toBe(0);
    clock.tick(1);
    expect(collections).toBe(1);
    clock.tick(1_000);
    expect(collections).toBe(1);
  });

  test("dispose cancels a pending collection", () => {
    const clock = fakeClock();
    let collections = 0;
    const gc = new IdleCollector({ collect: () => collections++, delayMs: 10, timers: clock.timers });
    gc.idle();
    gc.dispose();
    expect(clock.pending).toBe(0);
    clock.tick(40);
    expect(collections).toBe(0);
  });

  test("with the global timers, a pending collection does not keep the process alive", async () => {
    // Were the timer not unref'd, this process would run for a minute and the test time out.
    const code = `import { IdleCollector } from ${JSON.stringify(join(ROOT, "src", "daemon", "idle-gc.ts"))};
new IdleCollector({ collect: () => console.log("collected"), delayMs: 60_000 }).idle();`;
    const result = await runProcess([BUN, "-e", code], { cwd: ROOT, env: { PATH: process.env.PATH ?? "" } });
    expect({ exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr }).toEqual({
      exitCode: 0,
      stdout: "",
      stderr: "",
    });
  });
});
