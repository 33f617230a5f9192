import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { JobContextSchema, ResultKind } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import {
  JobCompletedRequestSchema,
  JobStartedRequestSchema,
  type LifecycleEvent,
  LifecycleEventSchema,
} from "../../kernel/gen/drover/plugin/v1/lifecycle_pb.ts";
import { sweepJobProcesses } from "../../kernel/process/sweep.ts";
import { scriptHooksPlugin } from "../../plugins/script-hooks/plugin.ts";
import { parseScriptHooksSettings } from "../../plugins/script-hooks/settings.ts";
import { expectNoLeftovers, marker, type TempDir, tempDir, waitFor } from "../harness.ts";

const decoder = new TextDecoder();
const testMarker = marker();

function plugin(dir: TempDir) {
  return scriptHooksPlugin("0.0.0-test", {
    baseEnv: { PATH: process.env.PATH, HOME: dir.path, [testMarker.name]: testMarker.value },
    graceMs: 200,
  });
}

function ctx(signal = new AbortController().signal) {
  return { signal, method: "test" };
}

async function drain(stream: AsyncIterable<unknown>): Promise<LifecycleEvent[]> {
  const events: LifecycleEvent[] = [];
  for await (const e of stream) events.push(create(LifecycleEventSchema, e as never));
  return events;
}

const output = (events: LifecycleEvent[]) =>
  events.map((e) => (e.event.case === "output" ? decoder.decode(e.event.value.data) : "")).join("");
const results = (events: LifecycleEvent[]) =>
  events.flatMap((e) => {
    if (e.event.case !== "result") return [];
    const { kind, exitCode, message } = e.event.value;
    return [{ kind, exitCode, message }];
  });

function started(settings: unknown) {
  return create(JobStartedRequestSchema, {
    job: {
      jobId: "7",
      runnerSettingsJson: typeof settings === "string" ? settings : JSON.stringify(settings),
    },
  });
}

describe("script-hooks settings (runner_settings_json)", () => {
  test("both lists, optional timeout; an empty string is no scripts", () => {
    expect(
      parseScriptHooksSettings(
        '{"job_started":[{"path":"/a.sh","timeout_seconds":1.5}],"job_completed":[{"path":"/b.ps1"}]}',
      ),
    ).toEqual({
      ok: true,
      settings: {
        job_started: [{ path: "/a.sh", timeout_seconds: 1.5 }],
        job_completed: [{ path: "/b.ps1" }],
      },
    });
    expect(parseScriptHooksSettings("")).toEqual({
      ok: true,
      settings: { job_started: [], job_completed: [] },
    });
    expect(parseScriptHooksSettings("{}")).toEqual({
      ok: true,
      settings: { job_started: [], job_completed: [] },
    });
  });

  test.each([
    ["not json", "script-hooks: invalid runner settings: not JSON"],
    [
      "[]",
      'script-hooks: invalid runner settings: expected an object like { "job_started": [...], "job_completed": [...] }',
    ],
    ['{"job_started":"/a.sh"}', 'script-hooks: invalid runner settings: "job_started" must be an array'],
    [
      '{"job_started":[{}]}',
      'script-hooks: invalid runner settings: "job_started[0].path" must be a non-empty string',
    ],
    [
      '{"job_completed":[{"path":"/a.sh","timeout_seconds":0}]}',
      'script-hooks: invalid runner settings: "job_completed[0].timeout_seconds" must be a positive number of seconds, got 0',
    ],
  ])("%s is refused", (json, message) => {
    const parsed = parseScriptHooksSettings(json);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? "" : parsed.message).toStartWith(message);
  });
});

describe("script-hooks plugin", () => {
  test("no scripts for the event: only a SUCCESS result", async () => {
    using dir = tempDir();
    const events = await drain(
      plugin(dir).handlers.jobStarted(started({ job_completed: [{ path: "/x.sh" }] }), ctx()),
    );
    expect(results(events)).toEqual([{ kind: ResultKind.SUCCESS, exitCode: 0, message: "" }]);
    expect(events).toHaveLength(1);
  });

  test("invalid settings: a CONFIGURATION_ERROR result", async () => {
    using dir = tempDir();
    const events = await drain(plugin(dir).handlers.jobStarted(started("{"), ctx()));
    expect(results(events)[0]?.kind).toBe(ResultKind.CONFIGURATION_ERROR);
  });

  test("JobStarted runs the scripts in order and stops at the first failure", async () => {
    using dir = tempDir();
    const a = dir.file("a.sh", "echo from-a\n");
    const b = dir.file("b.sh", "echo from-b\nexit 4\n");
    const c = dir.file("c.sh", `touch ${JSON.stringify(join(dir.path, "c-ran"))}\n`);
    const events = await drain(
      plugin(dir).handlers.jobStarted(
        started({ job_started: [{ path: a }, { path: b }, { path: c }] }),
        ctx(),
      ),
    );
    const text = output(events);
    expect(text.indexOf("from-a")).toBeLessThan(text.indexOf("from-b"));
    expect(text).toContain(`##[group]Run '${a}'`);
    expect(text).toContain(`##[group]Run '${b}'`);
    expect(text).not.toContain(`##[group]Run '${c}'`);
    expect(existsSync(join(dir.path, "c-ran"))).toBe(false);
    expect(results(events)).toEqual([
      { kind: ResultKind.BUILD_FAILURE, exitCode: 4, message: `Hook ${b} exited with code 4` },
    ]);
    expect(events.at(-1)?.event.case).toBe("result");
  });

  test("JobCompleted runs every script, reports the first failure, and passes the job's outcome", async () => {
    using dir = tempDir();
    const a = dir.file("a.sh", "exit 5\n");
    const b = dir.file("b.sh", 'echo "status=$DROVER_JOB_STATUS ci=$CI_JOB_STATUS from-start=$FROM_START"\n');
    const request = create(JobCompletedRequestSchema, {
      job: create(JobContextSchema, {
        jobId: "7",
        runnerSettingsJson: JSON.stringify({ job_completed: [{ path: a }, { path: b }] }),
      }),
      outcome: { status: "canceled", failureReason: "canceled" },
      exportedEnv: { FROM_START: "yes" },
    });
    const events = await drain(plugin(dir).handlers.jobCompleted(request, ctx()));
    expect(output(events)).toContain("status=canceled ci=canceled from-start=yes\n");
    expect(results(events)).toEqual([
      { kind: ResultKind.BUILD_FAILURE, exitCode: 5, message: `Hook ${a} exited with code 5` },
    ]);
  });

  test("a per-script timeout from the settings", async () => {
    using dir = tempDir();
    const a = dir.file("a.sh", "sleep 300\n");
    const events = await drain(
      plugin(dir).handlers.jobStarted(started({ job_started: [{ path: a, timeout_seconds: 0.2 }] }), ctx()),
    );
    expect(results(events)[0]?.message).toBe(`Hook ${a} timed out after 0.2s; its processes were stopped`);
    await expectNoLeftovers(testMarker.entry);
  });

  test("shutdown stops running hooks and waits for them", async () => {
    using dir = tempDir();
    const a = dir.file("a.sh", "echo started\nsleep 300\n");
    const p = plugin(dir);
    const stream = p.handlers.jobStarted(started({ job_started: [{ path: a }] }), ctx());
    const collected: LifecycleEvent[] = [];
    const done = (async () => {
      for await (const e of stream) collected.push(create(LifecycleEventSchema, e as never));
    })();
    await waitFor("the hook to start", () => output(collected).includes("started\n"));
    await p.shutdown?.();
    await done;
    expect(results(collected)[0]?.message).toBe(`Hook ${a} was cancelled`);
    await expectNoLeftovers(testMarker.entry);
  });
});

describe("script-hooks plugin: a job's hooks share its state", () => {
  function jobRequests(dir: TempDir, settings: unknown, trackingId = "") {
    const job = create(JobContextSchema, {
      jobId: "11",
      runnerSettingsJson: JSON.stringify(settings),
      variables: [{ key: "CI_PROJECT_DIR", value: join(dir.path, "builds", "proj") }],
      ...(trackingId ? { containment: { trackingId, cgroup: "" } } : {}),
    });
    return {
      started: create(JobStartedRequestSchema, { job }),
      completed: (exportedEnv: Record<string, string> = {}) =>
        create(JobCompletedRequestSchema, { job, outcome: { status: "success" }, exportedEnv }),
    };
  }

  test("RUNNER_TEMP is the same for the started and the completed hooks, and gone after JobCompleted", async () => {
    using dir = tempDir();
    const start = dir.file(
      "start.sh",
      'echo "$RUNNER_TEMP" > "$RUNNER_TEMP/left-by-start"\necho "temp=$RUNNER_TEMP"\n',
    );
    const done = dir.file("done.sh", 'echo "temp=$RUNNER_TEMP found=$(cat "$RUNNER_TEMP/left-by-start")"\n');
    const p = plugin(dir);
    const requests = jobRequests(dir, { job_started: [{ path: start }], job_completed: [{ path: done }] });
    const first = output(await drain(p.handlers.jobStarted(requests.started, ctx())));
    const temp = /temp=(\S+)/.exec(first)?.[1] as string;
    expect(existsSync(temp)).toBe(true);
    const second = output(await drain(p.handlers.jobCompleted(requests.completed(), ctx())));
    expect(second).toContain(`temp=${temp} found=${temp}\n`);
    expect(existsSync(temp)).toBe(false);
  });

  test("no completed hook configured: RUNNER_TEMP goes after JobStarted (no JobCompleted will come)", async () => {
    using dir = tempDir();
    const start = dir.file("start.sh", 'echo "temp=$RUNNER_TEMP"\n');
    const p = plugin(dir);
    const events = await drain(
      p.handlers.jobStarted(jobRequests(dir, { job_started: [{ path: start }] }).started, ctx()),
    );
    const temp = /temp=(\S+)/.exec(output(events))?.[1] as string;
    expect(temp).toBeDefined();
    expect(existsSync(temp)).toBe(false);
  });

  test("the completed hook's PATH has the started hook's GITHUB_PATH dirs; a later started hook sees the earlier one's exports", async () => {
    using dir = tempDir();
    const bin = join(dir.path, "started-bin");
    const a = dir.file(
      "a.sh",
      `mkdir -p ${bin} && printf '#!/bin/sh\\necho tool from $1\\n' > ${bin}/started-tool && chmod +x ${bin}/started-tool\n` +
        `echo ${bin} >> "$GITHUB_PATH"\necho "/first" >> "$GITHUB_PATH"\necho "FROM_A=1" >> "$GITHUB_ENV"\n`,
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a hook script's own code (JavaScript or shell), not a template
    const b = dir.file("b.sh", 'echo "b: FROM_A=$FROM_A path=${PATH%%:*}"\nstarted-tool b\n');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a hook script's own code (JavaScript or shell), not a template
    const done = dir.file("done.sh", 'echo "done: ${PATH%%:$BASE_PATH}"\nstarted-tool done\n');
    const p = plugin(dir);
    const requests = jobRequests(dir, {
      job_started: [{ path: a }, { path: b }],
      job_completed: [{ path: done }],
    });
    const started = output(await drain(p.handlers.jobStarted(requests.started, ctx())));
    expect(started).toContain("b: FROM_A=1 path=/first\n");
    expect(started).toContain("tool from b\n");
    // The core sends the completed hooks the variables; the directories come from the plugin's state.
    const completed = output(
      await drain(
        p.handlers.jobCompleted(
          requests.completed({ FROM_A: "1", BASE_PATH: process.env.PATH ?? "" }),
          ctx(),
        ),
      ),
    );
    expect(completed).toContain(`done: /first:${bin}\n`);
    expect(completed).toContain("tool from done\n");
  });

  test("a started hook's background process lives between the calls, within the job's containment", async () => {
    using dir = tempDir();
    const trackingId = `plugin-test-${basename(dir.path)}`;
    const start = dir.file(
      "start.sh",
      'nohup sleep 300 > /dev/null 2>&1 &\necho "$!" > "$RUNNER_TEMP/agent.pid"\n',
    );
    const done = dir.file(
      "done.sh",
      'pid=$(cat "$RUNNER_TEMP/agent.pid")\nkill -0 "$pid" && echo "agent $DROVER_JOB_TRACKING_ID alive"\n',
    );
    const p = plugin(dir);
    const requests = jobRequests(
      dir,
      { job_started: [{ path: start }], job_completed: [{ path: done }] },
      trackingId,
    );
    try {
      expect(results(await drain(p.handlers.jobStarted(requests.started, ctx())))[0]?.kind).toBe(
        ResultKind.SUCCESS,
      );
      expect(output(await drain(p.handlers.jobCompleted(requests.completed(), ctx())))).toContain(
        `agent ${trackingId} alive\n`,
      );
    } finally {
      // The core's end of the job.
      sweepJobProcesses(trackingId);
    }
    await expectNoLeftovers(testMarker.entry);
  });

  test("shutdown removes every job's state; two jobs with one id but two containments are two jobs", async () => {
    using dir = tempDir();
    const start = dir.file("start.sh", 'echo "temp=$RUNNER_TEMP"\n');
    const done = dir.file("done.sh", "true\n");
    const p = plugin(dir);
    const settings = { job_started: [{ path: start }], job_completed: [{ path: done }] };
    const temps = [];
    for (const trackingId of ["run-1", "run-2"]) {
      const events = await drain(
        p.handlers.jobStarted(jobRequests(dir, settings, trackingId).started, ctx()),
      );
      temps.push(/temp=(\S+)/.exec(output(events))?.[1] as string);
    }
    expect(temps[0]).not.toBe(temps[1]);
    for (const temp of temps) expect(existsSync(temp)).toBe(true);
    await p.shutdown?.();
    for (const temp of temps) expect(existsSync(temp)).toBe(false);
  });
});
