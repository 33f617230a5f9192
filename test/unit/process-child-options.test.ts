/**
 * startChild's options (kernel/process/child.ts): its output (real pipes, `output: "combined"`),
 * and the two that relax its defaults, each for one caller: `keepBackground` (a started job hook's
 * background processes live until the job ends) and `embeddedRuntime` (a `.js` hook runs on
 * drover's own runtime).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startChild } from "../../kernel/process/child.ts";
import { sweepJobProcesses } from "../../kernel/process/sweep.ts";
import { expectNoLeftovers, marker, tempDir, waitFor } from "../harness.ts";

const testMarker = marker();
const env = { PATH: process.env.PATH, [testMarker.name]: testMarker.value };

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

describe("startChild: output", () => {
  const script = [
    "echo first",
    "echo second >&2",
    "echo third",
    'echo "fd1=$(stat -L -c %F /proc/$$/fd/1) fd2=$(stat -L -c %F /proc/$$/fd/2)"',
    "echo fourth > /dev/stderr",
  ].join("; ");

  test("separate: two real pipes, so `> /dev/stderr` works", async () => {
    const child = startChild({ name: "sep", command: "bash", args: ["-c", script], env, graceMs: 100 });
    const [out, err, exit] = await Promise.all([readAll(child.stdout), readAll(child.stderr), child.exited]);
    expect(exit.exitCode).toBe(0);
    expect(out).toBe("first\nthird\nfd1=fifo fd2=fifo\n");
    expect(err).toBe("second\nfourth\n");
  });

  test("combined: one pipe for both, in the order they were written", async () => {
    const child = startChild({
      name: "comb",
      command: "bash",
      args: ["-c", script],
      env,
      graceMs: 100,
      output: "combined",
    });
    const [out, err, exit] = await Promise.all([readAll(child.stdout), readAll(child.stderr), child.exited]);
    expect(exit.exitCode).toBe(0);
    expect(out).toBe("first\nsecond\nthird\nfd1=fifo fd2=fifo\nfourth\n");
    expect(err).toBe("");
  });

  test("children that keep their pipes open do not hold up another child's output; no descriptor leaks", async () => {
    const fds = () => readdirSync("/proc/self/fd").length;
    const before = fds();
    // Four open pipes nobody writes to (two long-lived plugins): a reader on a thread pool would
    // wait for them before reading anything else.
    const idle = [0, 1].map((i) =>
      startChild({ name: `idle${i}`, command: "sleep", args: ["30"], env, graceMs: 100 }),
    );
    for (const child of idle) {
      child.stdout.resume();
      child.stderr.resume();
    }
    try {
      const started = Date.now();
      const child = startChild({
        name: "quick",
        command: "sh",
        args: ["-c", "echo hello; exec sleep 30"],
        env,
        graceMs: 100,
      });
      child.stderr.resume(); // a reader reads both streams to their end (mergeOutput does)
      const first = await new Promise<string>((resolve) =>
        child.stdout.once("data", (d) => resolve(String(d))),
      );
      expect(first).toBe("hello\n");
      expect(Date.now() - started).toBeLessThan(5_000);
      child.kill();
      await child.exited;
    } finally {
      for (const child of idle) child.kill();
      await Promise.all(idle.map((child) => child.exited));
    }
    await waitFor("the pipes' descriptors to be closed", () => fds() <= before, 5_000);
  });
});

describe("startChild: keepBackground", () => {
  test("the background process survives the leader; the output ends after the hold; later output is dropped", async () => {
    using dir = tempDir();
    const wrote = join(dir.path, "wrote");
    const trackingId = `child-test-${process.pid}-keep`;
    const child = startChild({
      name: "leader",
      command: "sh",
      args: ["-c", `(echo early; sleep 1; echo late; touch ${wrote}; exec sleep 300) & echo $!; echo leader`],
      env,
      graceMs: 100,
      keepBackground: true,
      outputHoldMs: 200,
      job: { trackingId, cgroup: "" },
    });
    try {
      // The output ends although `sleep 300` still holds the pipe: the hold cut it.
      const [out, exit] = await Promise.all([readAll(child.stdout), child.exited]);
      expect(exit.exitCode).toBe(0);
      const [pid, ...rest] = out.trim().split("\n");
      expect(rest.sort()).toEqual(["early", "leader"]);
      // Still there after the leader, and after writing into the pipe nobody reads any more.
      await waitFor("the background process to write after the hold", () => existsSync(wrote));
      expect(readFileSync(`/proc/${pid}/environ`, "latin1")).toContain(
        `DROVER_JOB_TRACKING_ID=${trackingId}`,
      );
    } finally {
      sweepJobProcesses(trackingId);
    }
    await expectNoLeftovers(testMarker.entry);
  });

  test("no background: the output ends with the pipes, without waiting for the hold", async () => {
    const child = startChild({
      name: "quick",
      command: "sh",
      args: ["-c", "echo done"],
      env,
      graceMs: 100,
      keepBackground: true,
      outputHoldMs: 60_000,
    });
    const started = Date.now();
    expect(await readAll(child.stdout)).toBe("done\n");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await child.exited).exitCode).toBe(0);
  });

  test("a timeout still stops the whole group while the leader runs", async () => {
    const child = startChild({
      name: "slow",
      command: "sh",
      args: ["-c", "sleep 300 & wait"],
      env,
      graceMs: 100,
      timeoutMs: 1,
      keepBackground: true,
    });
    const exit = await child.exited;
    expect(exit.timedOut).toBe(true);
    await expectNoLeftovers(testMarker.entry);
  });
});

describe("startChild: embeddedRuntime", () => {
  test("runs a script with this executable's runtime; BUN_BE_BUN reaches the runtime but not the script's children", async () => {
    using dir = tempDir();
    const script = dir.file(
      "hello.js",
      [
        'const { execFileSync } = require("node:child_process");',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a hook script's own code (JavaScript or shell), not a template
        'console.log(`argv=${process.argv.slice(2).join(",")} main=${require.main === module}`);',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a hook script's own code (JavaScript or shell), not a template
        'console.log(`child=${execFileSync("sh", ["-c", "echo ${BUN_BE_BUN:-unset}"]).toString().trim()}`);',
      ].join("\n"),
    );
    const child = startChild({
      name: "runtime",
      command: process.execPath,
      args: [script, "a", "b"],
      env: { ...env, BUN_BE_BUN: "0" },
      graceMs: 100,
      embeddedRuntime: true,
    });
    const [out, exit] = await Promise.all([readAll(child.stdout), child.exited]);
    expect(out).toBe("argv=a,b main=true\nchild=unset\n");
    expect(exit.exitCode).toBe(0);
  });

  test("only this executable: another command does not start", async () => {
    const child = startChild({
      name: "not-me",
      command: "/bin/sh",
      args: ["-c", "true"],
      env,
      graceMs: 100,
      embeddedRuntime: true,
    });
    const exit = await child.exited;
    expect(exit.startError?.shortMessage).toBe(
      `could not start not-me: embeddedRuntime runs this executable only (${JSON.stringify(process.execPath)}), not "/bin/sh"`,
    );
  });
});
