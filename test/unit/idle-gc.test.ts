import { describe, expect, test } from "bun:test";
import { IdleCollector } from "../../src/daemon/idle-gc.ts";

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("IdleCollector", () => {
  test("collects once, after the runner has stayed idle for the delay", async () => {
    let collections = 0;
    const gc = new IdleCollector({ collect: () => collections++, delayMs: 20 });
    gc.idle();
    expect(collections).toBe(0);
    await wait(60);
    expect(collections).toBe(1);
    await wait(40);
    expect(collections).toBe(1);
  });

  test("a job that starts within the delay cancels the collection; the next idle starts it again", async () => {
    let collections = 0;
    const gc = new IdleCollector({ collect: () => collections++, delayMs: 30 });
    gc.idle();
    await wait(5);
    gc.busy();
    await wait(60);
    expect(collections).toBe(0);
    gc.idle();
    gc.idle(); // a second job ending right after: still one collection
    await wait(80);
    expect(collections).toBe(1);
  });

  test("dispose cancels a pending collection", async () => {
    let collections = 0;
    const gc = new IdleCollector({ collect: () => collections++, delayMs: 10 });
    gc.idle();
    gc.dispose();
    await wait(40);
    expect(collections).toBe(0);
  });
});
