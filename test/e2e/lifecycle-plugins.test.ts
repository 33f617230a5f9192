/**
 * Third-party lifecycle plugins ([[hooks.plugins]]): the example telemetry plugin, written with the
 * SDK, receives JobStarted and JobCompleted for every job, with the job's result.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  expectNoLeftovers,
  jobJson,
  marker,
  ROOT,
  tempDir,
  tsExecutable,
} from "../harness.ts";

ensureBuilt();

describe("[[hooks.plugins]]", () => {
  test("the telemetry example records both events of a succeeding and a failing job", async () => {
    using dir = tempDir();
    const mark = marker();
    const plugin = tsExecutable(dir, "telemetry", join(ROOT, "examples", "telemetry-plugin", "main.ts"));
    const events = join(dir.path, "events.jsonl");
    const config = dir.file(
      "config.toml",
      `concurrent = 1\n[[runners]]\n  name = "local"\n  executor = "shell"\n[[hooks.plugins]]\n  path = "${plugin}"\n  [hooks.plugins.settings]\n    file = "${events}"\n`,
    );
    const ok = dir.file("ok.json", jobJson({ id: 11, job_info: { name: "good" }, script: ["echo fine"] }));
    const bad = dir.file("bad.json", jobJson({ id: 12, job_info: { name: "bad" }, script: ["exit 4"] }));
    const result = await drover(["exec", "--config", config, ok, bad], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value }),
    });
    expect(result.exitCode).toBe(1);
    const lines = readFileSync(events, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((l) => [l.event, l.job_name, l.status, l.failure_reason])).toEqual([
      ["job_started", "good", undefined, undefined],
      ["job_completed", "good", "success", undefined],
      ["job_started", "bad", undefined, undefined],
      ["job_completed", "bad", "failed", "script_failure"],
    ]);
    const stages = lines[1].stages.map((s: { name: string }) => s.name);
    expect(stages).toContain("build_script");
    expect(result.stdout).toContain("[good] ✓ complete_runner");
    await expectNoLeftovers(mark.entry);
  });

  test("the telemetry example records a job run through the custom executor (examples/custom-driver)", async () => {
    using dir = tempDir();
    const mark = marker();
    const plugin = tsExecutable(dir, "telemetry", join(ROOT, "examples", "telemetry-plugin", "main.ts"));
    const events = join(dir.path, "events.jsonl");
    const driver = join(ROOT, "examples", "custom-driver");
    const config = dir.file(
      "config.toml",
      [
        "[[runners]]",
        '  name = "drivers"',
        '  executor = "custom"',
        "  [runners.custom]",
        ...["config", "prepare", "run", "cleanup"].map(
          (stage) => `    ${stage}_exec = "${driver}/${stage}.sh"`,
        ),
        "[[hooks.plugins]]",
        `  path = "${plugin}"`,
        "  [hooks.plugins.settings]",
        `    file = "${events}"`,
        "",
      ].join("\n"),
    );
    const job = dir.file(
      "job.json",
      jobJson({ id: 21, job_info: { name: "via-driver" }, script: ["echo through the driver"] }),
    );
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value, DRIVER_BASE_DIR: join(dir.path, "jobs") }),
    });
    expect(result.stdout).toContain("through the driver");
    expect(result.exitCode).toBe(0);
    const lines = readFileSync(events, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((l) => [l.event, l.job_name, l.runner, l.status])).toEqual([
      ["job_started", "via-driver", "drivers", undefined],
      ["job_completed", "via-driver", "drivers", "success"],
    ]);
    await expectNoLeftovers(mark.entry);
  });

  test("a lifecycle plugin that is missing is a configuration error; nothing runs, nothing is left", async () => {
    using dir = tempDir();
    const mark = marker();
    const tmp = join(dir.path, "tmp");
    mkdirSync(tmp);
    const config = dir.file(
      "config.toml",
      `[[hooks.plugins]]\n  path = "${join(dir.path, "missing-plugin")}"\n`,
    );
    const result = await drover(["exec", "--config", config, "--", "echo never"], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { [mark.name]: mark.value, TMPDIR: tmp }),
    });
    expect(result.stderr).toContain('missing-plugin" does not exist');
    expect(result.stdout).toBe("");
    expect(result.exitCode).toBe(78);
    // drover exec starts the executor plugin before it reads the hooks: that early launch is
    // stopped, and its socket dir removed, when the configuration turns out bad.
    await expectNoLeftovers(mark.entry);
    expect(readdirSync(tmp)).toEqual([]);
  });

  test("a lifecycle plugin that dies before its handshake fails the job and says why", async () => {
    using dir = tempDir();
    const plugin = dir.file(
      "broken-hook",
      "#!/bin/sh\necho 'hook plugin: bad settings' >&2\nexit 1\n",
      0o755,
    );
    const config = dir.file("config.toml", `[[hooks.plugins]]\n  path = "${plugin}"\n`);
    const result = await drover(["exec", "--config", config, "--", "echo never"], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.stdout).toContain('lifecycle plugin "broken-hook" failed');
    expect(result.stdout).toContain("hook plugin: bad settings");
    expect(result.stdout).not.toContain("never\n");
    expect(result.exitCode).toBe(2);
  });
});
