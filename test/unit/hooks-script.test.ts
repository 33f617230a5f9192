import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { create } from "@bufbuild/protobuf";
import {
  JobContainmentSchema,
  type JobContext,
  JobContextSchema,
  OutputStream,
  ResultKind,
  VariableSchema,
} from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import {
  AnnotationLevel,
  JobOutcomeSchema,
  type LifecycleEvent,
  LifecycleEventSchema,
} from "../../kernel/gen/drover/plugin/v1/lifecycle_pb.ts";
import { sweepJobProcesses } from "../../kernel/process/sweep.ts";
import { toolCacheDir } from "../../plugins/script-hooks/hook-env.ts";
import {
  type HookScriptOptions,
  runHookScript,
  STEP_SUMMARY_LIMIT,
} from "../../plugins/script-hooks/hook-script.ts";
import { findExecutable } from "../../plugins/script-hooks/shell.ts";
import { expectNoLeftovers, marker, type TempDir, tempDir, waitFor } from "../harness.ts";

const BASH = findExecutable("bash", process.env.PATH) ?? "bash";
const decoder = new TextDecoder();

/** The project directory drover would give the job: in `dir`, not made yet. */
const projectDir = (dir: TempDir) => join(dir.path, "builds", "group", "proj");

function jobContext(
  dir: TempDir,
  variables: Array<{ key: string; value: string; raw?: boolean; file?: boolean }> = [],
): JobContext {
  return create(JobContextSchema, {
    jobId: "42",
    jobName: "build",
    runnerName: "runner-1",
    jobJson: new TextEncoder().encode('{"id":42}'),
    variables: [
      { key: "CI_JOB_ID", value: "42" },
      { key: "CI_JOB_NAME", value: "build" },
      { key: "CI_PROJECT_DIR", value: projectDir(dir) },
      { key: "CI_PROJECT_PATH", value: "group/proj" },
      { key: "CI_COMMIT_SHA", value: "0123456789abcdef0123456789abcdef01234567" },
      ...variables,
    ].map((v) => create(VariableSchema, v)),
  });
}

interface Collected {
  events: LifecycleEvent[];
  /** stdout and stderr output, in order, decoded. */
  output: string;
  stderr: string;
  annotations: Array<{ level: AnnotationLevel; message: string; file: string; line: number }>;
  masks: string[];
  env: Array<[string, string]>;
  paths: string[];
  summaries: string[];
  result: { kind: ResultKind; exitCode: number; message: string } | undefined;
}

function collect(events: LifecycleEvent[]): Collected {
  const c: Collected = {
    events,
    output: "",
    stderr: "",
    annotations: [],
    masks: [],
    env: [],
    paths: [],
    summaries: [],
    result: undefined,
  };
  for (const e of events) {
    const v = e.event;
    if (v.case === "output") {
      c.output += decoder.decode(v.value.data);
      if (v.value.stream === OutputStream.STDERR) c.stderr += decoder.decode(v.value.data);
    } else if (v.case === "annotation") {
      c.annotations.push({
        level: v.value.level,
        message: v.value.message,
        file: v.value.file,
        line: v.value.line,
      });
    } else if (v.case === "mask") c.masks.push(v.value);
    else if (v.case === "setEnv") c.env.push([v.value.name, v.value.value]);
    else if (v.case === "addPath") c.paths.push(v.value);
    else if (v.case === "stepSummary") c.summaries.push(v.value);
    else if (v.case === "result")
      c.result = { kind: v.value.kind, exitCode: v.value.exitCode, message: v.value.message };
  }
  return c;
}

const testMarker = marker();

function baseEnv(dir: TempDir): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dir.path,
    LANG: "C.UTF-8",
    [testMarker.name]: testMarker.value,
  };
}

async function run(dir: TempDir, options: Partial<HookScriptOptions> & { path: string }): Promise<Collected> {
  const events: LifecycleEvent[] = [];
  for await (const e of runHookScript({
    event: "job_started",
    job: jobContext(dir),
    baseEnv: baseEnv(dir),
    graceMs: 200,
    ...options,
  })) {
    events.push(create(LifecycleEventSchema, e));
  }
  // The result is always the last event, and there is exactly one.
  expect(events.filter((e) => e.event.case === "result")).toHaveLength(1);
  expect(events.at(-1)?.event.case).toBe("result");
  return collect(events);
}

/** The hook's own output: what comes after the "Run" group. */
function scriptOutput(c: Collected): string {
  return c.output.slice(c.output.indexOf("##[endgroup]\n") + "##[endgroup]\n".length);
}

describe("hook script: running", () => {
  test("success: header, output, commands, env files and summary all come back", async () => {
    using dir = tempDir();
    const path = dir.file(
      "start.sh",
      [
        "echo hello",
        'echo "::warning file=build.sh,line=7::runner pool is being retired"',
        'echo "::add-mask::s3cret-value"',
        'echo "::group::Details"',
        "echo inside",
        'echo "::endgroup::"',
        'echo "::debug::hidden without step debug"',
        'echo "FOO=bar" >> "$GITHUB_ENV"',
        "{ echo 'MULTI<<EOF'; echo 'line 1'; echo 'line 2'; echo 'EOF'; } >> \"$GITHUB_ENV\"",
        'echo "/opt/first/bin" >> "$GITHUB_PATH"',
        'echo "/opt/second/bin" >> "$GITHUB_PATH"',
        'echo "## Summary" >> "$GITHUB_STEP_SUMMARY"',
        `echo "$RUNNER_TEMP" > ${JSON.stringify(join(dir.path, "temp-was"))}`,
      ].join("\n"),
    );
    const c = await run(dir, { path });
    expect(c.output.startsWith(`##[group]Run '${path}'\nshell: ${BASH} -e {0}\n`)).toBe(true);
    expect(c.output).toContain(
      "A job started hook has been configured by the self-hosted runner administrator\n",
    );
    expect(scriptOutput(c)).toBe("hello\n##[group]Details\ninside\n##[endgroup]\n");
    expect(c.annotations).toEqual([
      { level: AnnotationLevel.WARNING, message: "runner pool is being retired", file: "build.sh", line: 7 },
    ]);
    expect(c.masks).toEqual(["s3cret-value"]);
    expect(c.env).toEqual([
      ["FOO", "bar"],
      ["MULTI", "line 1\nline 2"],
    ]);
    expect(c.paths).toEqual(["/opt/first/bin", "/opt/second/bin"]);
    expect(c.summaries).toEqual(["## Summary\n"]);
    expect(c.result).toEqual({ kind: ResultKind.SUCCESS, exitCode: 0, message: "" });
    // The private directory is gone.
    expect(existsSync(dirname(readFileSync(join(dir.path, "temp-was"), "utf8").trim()))).toBe(false);
  });

  test("exit 3: GitHub's annotation, a BUILD_FAILURE with the code, env files still read", async () => {
    using dir = tempDir();
    const path = dir.file("start.sh", 'echo "A=1" >> "$GITHUB_ENV"\necho before\nexit 3\n');
    const c = await run(dir, { path });
    expect(scriptOutput(c)).toBe("before\n");
    expect(c.env).toEqual([["A", "1"]]);
    expect(c.annotations).toEqual([
      { level: AnnotationLevel.ERROR, message: "Process completed with exit code 3.", file: "", line: 0 },
    ]);
    expect(c.result).toEqual({
      kind: ResultKind.BUILD_FAILURE,
      exitCode: 3,
      message: `Hook ${path} exited with code 3`,
    });
  });

  test("bash runs with -e: the first failing command ends the script", async () => {
    using dir = tempDir();
    const path = dir.file("start.sh", "echo one\nfalse\necho two\n");
    const c = await run(dir, { path });
    expect(scriptOutput(c)).toBe("one\n");
    expect(c.result?.exitCode).toBe(1);
  });

  test("timeout: a script that ignores SIGTERM is killed with its whole process group", async () => {
    using dir = tempDir();
    const pidFile = join(dir.path, "pid");
    const path = dir.file(
      "slow.sh",
      `trap '' TERM\nsleep 300 &\necho $! > ${JSON.stringify(pidFile)}\necho started\nwait\necho never\n`,
    );
    const started = Date.now();
    const c = await run(dir, { path, timeoutSeconds: 0.5 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(scriptOutput(c)).toBe("started\n");
    expect(c.result).toEqual({
      kind: ResultKind.BUILD_FAILURE,
      exitCode: 137,
      message: `Hook ${path} timed out after 0.5s; its processes were stopped`,
    });
    // The background sleep was started, and like every process of the hook (they all carry the
    // test's marker variable) it is gone.
    expect(Number(readFileSync(pidFile, "utf8"))).toBeGreaterThan(0);
    await expectNoLeftovers(testMarker.entry);
  });

  test("a consumer that stops reading stops the hook and removes its files", async () => {
    using dir = tempDir();
    const path = dir.file("start.sh", 'echo "$RUNNER_TEMP"\nsleep 300 &\nwait\n');
    let temp: string | undefined;
    for await (const e of runHookScript({
      event: "job_started",
      path,
      job: jobContext(dir),
      baseEnv: baseEnv(dir),
      graceMs: 200,
    })) {
      const v = create(LifecycleEventSchema, e).event;
      if (v.case === "output" && decoder.decode(v.value.data).startsWith("/")) {
        temp = decoder.decode(v.value.data).trim();
        break;
      }
    }
    expect(temp).toBeDefined();
    expect(existsSync(temp as string)).toBe(false);
    await expectNoLeftovers(testMarker.entry);
  });

  test("cancel (the call's signal) stops the hook", async () => {
    using dir = tempDir();
    const path = dir.file("start.sh", "echo started\nsleep 300\n");
    const abort = new AbortController();
    const events: LifecycleEvent[] = [];
    for await (const e of runHookScript({
      event: "job_started",
      path,
      job: jobContext(dir),
      baseEnv: baseEnv(dir),
      graceMs: 200,
      signal: abort.signal,
    })) {
      const event = create(LifecycleEventSchema, e);
      events.push(event);
      if (event.event.case === "output" && decoder.decode(event.event.value.data) === "started\n")
        abort.abort();
    }
    expect(collect(events).result).toMatchObject({
      kind: ResultKind.BUILD_FAILURE,
      message: `Hook ${path} was cancelled`,
    });
    await expectNoLeftovers(testMarker.entry);
  });

  test("stderr keeps its stream; bytes that are not UTF-8 pass as printed; a last line without newline", async () => {
    using dir = tempDir();
    const path = dir.file(
      "start.sh",
      "echo to-stderr >&2\nprintf '\\377\\376 raw\\n'\nprintf 'no newline'\n",
    );
    const c = await run(dir, { path });
    expect(c.stderr).toBe("to-stderr\n");
    const stdout = Buffer.concat(
      c.events.flatMap((e) =>
        e.event.case === "output" && e.event.value.stream === OutputStream.STDOUT ? [e.event.value.data] : [],
      ),
    );
    expect(stdout.includes(Buffer.from([0xff, 0xfe, 0x20, 0x72, 0x61, 0x77, 0x0a]))).toBe(true);
    expect(stdout.toString("latin1").endsWith("no newline\n")).toBe(true);
  });
});

describe("hook script: what cannot run", () => {
  test.each([
    [
      "a bad extension",
      (dir: TempDir) => dir.file("hook.py", "print(1)\n"),
      (p: string) => `${p} is not a valid path to a script. Make sure it ends in '.sh', '.ps1' or '.js'.`,
    ],
    [
      "an upper-case extension",
      (dir: TempDir) => dir.file("hook.SH", "true\n"),
      (p: string) => `${p} is not a valid path to a script. Make sure it ends in '.sh', '.ps1' or '.js'.`,
    ],
    ["a relative path", () => "hooks/start.sh", (p: string) => `Hook ${p}: the path must be absolute`],
    [
      "a missing file",
      (dir: TempDir) => join(dir.path, "missing.sh"),
      (p: string) => `Hook ${p}: the file does not exist`,
    ],
    ["a directory", (dir: TempDir) => join(dir.path, ""), (p: string) => `Hook ${p}: not a regular file`],
  ])("%s is a configuration error naming the hook", async (_what, make, message) => {
    using dir = tempDir();
    const path = make(dir);
    const c = await run(dir, { path });
    expect(c.result).toEqual({ kind: ResultKind.CONFIGURATION_ERROR, exitCode: 0, message: message(path) });
    expect(c.output).toBe(`##[group]Run '${path}'\n##[endgroup]\n`);
  });

  test("an unreadable file", async () => {
    if (process.getuid?.() === 0) return; // root reads everything
    using dir = tempDir();
    const path = dir.file("secret.sh", "true\n", 0o000);
    const c = await run(dir, { path });
    expect(c.result?.kind).toBe(ResultKind.CONFIGURATION_ERROR);
    expect(c.result?.message).toBe(`Hook ${path}: the file is not readable by drover's user (EACCES)`);
  });

  test("no interpreter on PATH", async () => {
    using dir = tempDir();
    const path = dir.file("start.sh", "true\n");
    const c = await run(dir, { path, baseEnv: { PATH: join(dir.path, "empty") } });
    expect(c.result).toEqual({
      kind: ResultKind.CONFIGURATION_ERROR,
      exitCode: 0,
      message: `Hook ${path}: neither bash nor sh was found on PATH (${join(dir.path, "empty")})`,
    });
  });

  test("sh when there is no bash on PATH", async () => {
    using dir = tempDir();
    const sh = findExecutable("sh", process.env.PATH);
    if (!sh) return;
    const bin = join(dir.path, "bin");
    const { mkdirSync, symlinkSync } = await import("node:fs");
    mkdirSync(bin);
    symlinkSync(sh, join(bin, "sh"));
    const path = dir.file("start.sh", "echo from-sh\n");
    const c = await run(dir, { path, baseEnv: { PATH: bin, HOME: dir.path } });
    expect(c.output).toContain(`shell: ${join(bin, "sh")} -e {0}\n`);
    expect(scriptOutput(c)).toBe("from-sh\n");
    expect(c.result?.kind).toBe(ResultKind.SUCCESS);
  });
});

describe("hook script: environment", () => {
  test("the job's variables as drover passed them, GitHub names no variable overrides, the event, private files", async () => {
    using dir = tempDir();
    const path = dir.file(
      "start.sh",
      [
        'echo "job=$CI_JOB_ID ref=$REF"',
        'echo "file=$(cat "$MY_FILE")"',
        'echo "ws=$GITHUB_WORKSPACE job=$GITHUB_JOB repo=$GITHUB_REPOSITORY runner=$RUNNER_NAME"',
        'echo "event=$(tr -d "\n" < "$GITHUB_EVENT_PATH")"',
        'echo "job-json=$(cat "$DROVER_JOB_PATH")"',
        'echo "mode=$(stat -c %a "$DROVER_JOB_PATH") $(stat -c %a "$GITHUB_EVENT_PATH") dir=$(stat -c %a "$(dirname "$DROVER_JOB_PATH")")"',
        'echo "cwd=$([ "$(pwd -P)" = "$(cd "$GITHUB_WORKSPACE" && pwd -P)" ] && echo workspace)"',
        'echo "runner-ws=$RUNNER_WORKSPACE attempt=$GITHUB_RUN_ATTEMPT workflow=$GITHUB_WORKFLOW tools=$RUNNER_TOOL_CACHE"',
        'echo "hook=$DROVER_HOOK id=$DROVER_JOB_ID status=$(printenv DROVER_JOB_STATUS || echo unset) actions=$(printenv GITHUB_ACTIONS || echo unset)"',
        'n=0; for f in "$GITHUB_ENV" "$GITHUB_PATH" "$GITHUB_STEP_SUMMARY" "$GITHUB_OUTPUT" "$GITHUB_STATE"; do if [ -f "$f" ] && [ ! -s "$f" ]; then n=$((n + 1)); fi; done; echo "empty-files=$n"',
      ].join("\n"),
    );
    const c = await run(dir, {
      path,
      job: jobContext(dir, [
        // Values arrive final: drover expanded them (src/job/hook-context.ts).
        { key: "REF", value: "job-$CI_JOB_ID", raw: true },
        { key: "MY_FILE", value: "file content", file: true },
        // A variable cannot replace what drover sets for the hook.
        { key: "GITHUB_WORKSPACE", value: "/etc" },
        { key: "DROVER_JOB_PATH", value: "/etc/shadow" },
        { key: "GITHUB_EVENT_PATH", value: "/etc/shadow" },
        { key: "RUNNER_TOOL_CACHE", value: "/etc" },
        { key: "GITHUB_RUN_ATTEMPT", value: "9" },
      ]),
    });
    expect(scriptOutput(c).split("\n")).toEqual([
      "job=42 ref=job-$CI_JOB_ID",
      "file=file content",
      `ws=${projectDir(dir)} job=build repo=group/proj runner=runner-1`,
      'event={"after":"0123456789abcdef0123456789abcdef01234567","repository":{"full_name":"group/proj","owner":{}},"head_commit":{"id":"0123456789abcdef0123456789abcdef01234567"}}',
      'job-json={"id":42}',
      "mode=600 600 dir=700",
      "cwd=workspace",
      `runner-ws=${join(dir.path, "builds", "group")} attempt=1 workflow=.gitlab-ci.yml tools=${join(dir.path, ".cache", "drover", "tool-cache")}`,
      "hook=job_started id=42 status=unset actions=unset",
      "empty-files=5",
      "",
    ]);
    expect(c.result?.kind).toBe(ResultKind.SUCCESS);
  });

  test("JobCompleted: the job's status and what the started hooks exported", async () => {
    using dir = tempDir();
    const path = dir.file(
      "done.sh",
      'echo "$DROVER_HOOK $DROVER_JOB_STATUS $CI_JOB_STATUS $DROVER_JOB_FAILURE_REASON $DROVER_JOB_EXIT_CODE $FROM_START"\n',
    );
    const c = await run(dir, {
      path,
      event: "job_completed",
      completed: {
        outcome: create(JobOutcomeSchema, { status: "failed", failureReason: "script_failure", exitCode: 2 }),
        exportedEnv: { FROM_START: "exported" },
      },
      job: jobContext(dir, [{ key: "CI_JOB_STATUS", value: "running" }]),
    });
    expect(c.output).toContain(
      "A job completed hook has been configured by the self-hosted runner administrator\n",
    );
    expect(scriptOutput(c)).toBe("job_completed failed failed script_failure 2 exported\n");
  });

  test("step debug shows ::debug:: lines and echoes commands", async () => {
    using dir = tempDir();
    const path = dir.file("start.sh", 'echo "::debug::now you see me"\necho "::group::g"\n');
    const c = await run(dir, { path, job: jobContext(dir, [{ key: "ACTIONS_STEP_DEBUG", value: "TRUE" }]) });
    expect(scriptOutput(c)).toBe("##[debug]now you see me\n::group::g\n##[group]g\n");
  });
});

describe("hook script: commands and files that fail", () => {
  test("::set-env:: fails the hook even though the script exits 0", async () => {
    using dir = tempDir();
    const path = dir.file("start.sh", 'echo "::set-env name=A::b"\necho after\n');
    const c = await run(dir, { path });
    expect(scriptOutput(c)).toBe("after\n");
    expect(c.annotations).toHaveLength(1);
    expect(c.annotations[0]?.message).toStartWith(
      "output line 1: Unable to process command '::set-env name=A::b' successfully. The `set-env` command is disabled.",
    );
    expect(c.env).toEqual([]);
    expect(c.result).toEqual({
      kind: ResultKind.BUILD_FAILURE,
      exitCode: 0,
      message: `Hook ${path}: a workflow command failed (output line 1)`,
    });
  });

  test("a broken GITHUB_ENV: the entries before the error apply, the hook fails naming file and line", async () => {
    using dir = tempDir();
    const path = dir.file("start.sh", 'printf "OK=1\\nBAD<<EOF\\nvalue\\n" >> "$GITHUB_ENV"\n');
    const c = await run(dir, { path });
    expect(c.env).toEqual([["OK", "1"]]);
    expect(c.annotations.map((a) => a.message)).toEqual([
      "Unable to process file command 'env' successfully. $GITHUB_ENV line 2: Invalid value. Matching delimiter not found 'EOF'",
    ]);
    expect(c.result).toMatchObject({ kind: ResultKind.BUILD_FAILURE, exitCode: 0 });
    expect(c.result?.message).toStartWith(`Hook ${path}: unable to process file command 'env'`);
  });

  test("NODE_OPTIONS in GITHUB_ENV is refused, the hook still succeeds", async () => {
    using dir = tempDir();
    const path = dir.file(
      "start.sh",
      'echo "NODE_OPTIONS=--require=/tmp/x.js" >> "$GITHUB_ENV"\necho "B=2" >> "$GITHUB_ENV"\n',
    );
    const c = await run(dir, { path });
    expect(c.env).toEqual([["B", "2"]]);
    expect(c.annotations.map((a) => a.message)).toEqual([
      "$GITHUB_ENV line 1: Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command.",
    ]);
    expect(c.result?.kind).toBe(ResultKind.SUCCESS);
  });

  test("a step summary over 1 MiB is refused with GitHub's message", async () => {
    using dir = tempDir();
    const path = dir.file(
      "start.sh",
      `head -c ${STEP_SUMMARY_LIMIT + 2048} /dev/zero | tr '\\0' x >> "$GITHUB_STEP_SUMMARY"\n`,
    );
    const c = await run(dir, { path });
    expect(c.summaries).toEqual([]);
    expect(c.annotations.map((a) => a.message)).toEqual([
      "$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of 1024k, got 1026k. For more information see: https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions#adding-a-markdown-summary",
    ]);
    expect(c.result?.kind).toBe(ResultKind.SUCCESS);
  });

  test("GITHUB_OUTPUT is a warning; GITHUB_PATH keeps a repeated path once, at its last place", async () => {
    using dir = tempDir();
    const path = dir.file(
      "start.sh",
      'echo "x=1" >> "$GITHUB_OUTPUT"\nprintf "/a\\n/b\\n/a\\n" >> "$GITHUB_PATH"\n',
    );
    const c = await run(dir, { path });
    expect(c.paths).toEqual(["/b", "/a"]);
    expect(c.annotations).toEqual([
      {
        level: AnnotationLevel.WARNING,
        message:
          "$GITHUB_OUTPUT is not supported in job hooks and was ignored: a hook is not a step and has no outputs.",
        file: "",
        line: 0,
      },
    ]);
  });
});

describe("hook script: GitHub's runner semantics", () => {
  test("GITHUB_WORKSPACE is made before the hook runs, and is its working directory", async () => {
    using dir = tempDir();
    const path = dir.file("start.sh", 'cd "$GITHUB_WORKSPACE"\ntouch made-by-hook\necho "in $(pwd -P)"\n');
    const c = await run(dir, { path });
    expect(c.result).toEqual({ kind: ResultKind.SUCCESS, exitCode: 0, message: "" });
    expect(scriptOutput(c)).toBe(`in ${realpathSync(projectDir(dir))}\n`);
    expect(existsSync(join(projectDir(dir), "made-by-hook"))).toBe(true);
  });

  test("a workspace that cannot be made on this host: a warning, and the hook runs in RUNNER_TEMP", async () => {
    using dir = tempDir();
    const blocker = dir.file("not-a-dir", "");
    const path = dir.file(
      "start.sh",
      'echo "cwd=$([ "$(pwd -P)" = "$(cd "$RUNNER_TEMP" && pwd -P)" ] && echo temp)"\n',
    );
    const c = await run(dir, {
      path,
      job: jobContext(dir, [{ key: "CI_PROJECT_DIR", value: join(blocker, "p") }]),
    });
    expect(c.annotations.map((a) => a.message)).toEqual([
      `GITHUB_WORKSPACE ${join(blocker, "p")} could not be created on this host (ENOTDIR): the hook runs in RUNNER_TEMP`,
    ]);
    expect(scriptOutput(c)).toBe("cwd=temp\n");
    expect(c.result?.kind).toBe(ResultKind.SUCCESS);
  });

  test("RUNNER_TOOL_CACHE: the administrator's, as GitHub reads it, else one per user; made if missing", async () => {
    expect(toolCacheDir({ RUNNER_TOOL_CACHE: "/a", AGENT_TOOLSDIRECTORY: "/b" })).toBe("/a");
    expect(toolCacheDir({ RUNNER_TOOLSDIRECTORY: "/c", AGENT_TOOLSDIRECTORY: "/b" })).toBe("/c");
    expect(toolCacheDir({ AGENT_TOOLSDIRECTORY: "/b", HOME: "/home/x" })).toBe("/b");
    expect(toolCacheDir({ HOME: "/home/x" })).toBe("/home/x/.cache/drover/tool-cache");
    expect(toolCacheDir({ HOME: "/home/x", XDG_CACHE_HOME: "/var/cache/x" })).toBe(
      "/var/cache/x/drover/tool-cache",
    );
    // A relative XDG_CACHE_HOME is invalid (XDG); an empty RUNNER_TOOL_CACHE means the default.
    expect(toolCacheDir({ HOME: "/home/x", XDG_CACHE_HOME: "cache" })).toBe(
      "/home/x/.cache/drover/tool-cache",
    );
    expect(toolCacheDir({ HOME: "/home/x", RUNNER_TOOL_CACHE: "", AGENT_TOOLSDIRECTORY: "/b" })).toBe(
      "/home/x/.cache/drover/tool-cache",
    );

    using dir = tempDir();
    const tools = join(dir.path, "tools", "cache");
    const path = dir.file("start.sh", 'echo "$RUNNER_TOOL_CACHE"\n');
    const c = await run(dir, { path, baseEnv: { ...baseEnv(dir), AGENT_TOOLSDIRECTORY: tools } });
    expect(scriptOutput(c)).toBe(`${tools}\n`);
    expect(statSync(tools).isDirectory()).toBe(true);
  });

  test("GITHUB_RUN_ATTEMPT and GITHUB_WORKFLOW from what GitLab says, when drover passes it", async () => {
    using dir = tempDir();
    const path = dir.file("start.sh", 'echo "$GITHUB_RUN_ATTEMPT $GITHUB_WORKFLOW"\n');
    const named = await run(dir, {
      path,
      job: jobContext(dir, [
        { key: "CI_JOB_RETRY_COUNT", value: "2" },
        { key: "CI_PIPELINE_NAME", value: "Nightly build" },
        { key: "CI_CONFIG_PATH", value: "ci/main.yml" },
      ]),
    });
    expect(scriptOutput(named)).toBe("3 Nightly build\n");
    const file = await run(dir, {
      path,
      job: jobContext(dir, [
        { key: "CI_JOB_RETRY_COUNT", value: "not a number" },
        { key: "CI_CONFIG_PATH", value: "ci/main.yml" },
      ]),
    });
    expect(scriptOutput(file)).toBe("1 ci/main.yml\n");
  });

  test("a .js hook runs on the embedded runtime: process.env, GITHUB_ENV, GITHUB_PATH, its exit code", async () => {
    using dir = tempDir();
    const path = dir.file(
      "start.js",
      [
        'const fs = require("node:fs");',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a hook script's own code (JavaScript or shell), not a template
        "console.log(`job ${process.env.CI_JOB_ID} in ${process.cwd() === fs.realpathSync(process.env.GITHUB_WORKSPACE)}`);",
        'fs.appendFileSync(process.env.GITHUB_ENV, "FROM_JS=yes\\n");',
        'fs.appendFileSync(process.env.GITHUB_PATH, "/opt/js/bin\\n");',
        'console.log("::notice::from javascript");',
        "process.exitCode = 0;",
      ].join("\n"),
    );
    const c = await run(dir, { path });
    expect(c.output).toContain(`shell: ${process.execPath} {0}\n`);
    expect(scriptOutput(c)).toBe("job 42 in true\n");
    expect(c.env).toEqual([["FROM_JS", "yes"]]);
    expect(c.paths).toEqual(["/opt/js/bin"]);
    expect(c.annotations.map((a) => a.message)).toEqual(["from javascript"]);
    expect(c.result?.kind).toBe(ResultKind.SUCCESS);

    const failing = dir.file("fail.js", 'console.error("nope");\nprocess.exit(7);\n');
    const f = await run(dir, { path: failing });
    expect(f.stderr).toBe("nope\n");
    expect(f.result).toEqual({
      kind: ResultKind.BUILD_FAILURE,
      exitCode: 7,
      message: `Hook ${failing} exited with code 7`,
    });
  });

  test("a .js hook reads nothing from the project's directory (.env, bunfig.toml) and passes no BUN_BE_BUN on", async () => {
    using dir = tempDir();
    mkdirSync(projectDir(dir), { recursive: true });
    writeFileSync(join(projectDir(dir), ".env"), "FROM_PROJECT=injected\n");
    writeFileSync(join(projectDir(dir), "bunfig.toml"), 'preload = ["./evil.js"]\n');
    writeFileSync(join(projectDir(dir), "evil.js"), 'console.log("project code ran");\n');
    const path = dir.file(
      "start.js",
      [
        'const { execFileSync } = require("node:child_process");',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a hook script's own code (JavaScript or shell), not a template
        'console.log(`project=${process.env.FROM_PROJECT ?? "unset"}`);',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a hook script's own code (JavaScript or shell), not a template
        'console.log(`child=${execFileSync("sh", ["-c", "echo ${BUN_BE_BUN:-unset}"]).toString().trim()}`);',
      ].join("\n"),
    );
    const c = await run(dir, { path });
    expect(scriptOutput(c)).toBe("project=unset\nchild=unset\n");
    expect(c.result?.kind).toBe(ResultKind.SUCCESS);
  });
});

describe("hook script: ACTIONS_ALLOW_UNSECURE_COMMANDS", () => {
  const script = [
    'echo "::set-env name=LEGACY::set the old way"',
    'echo "::add-path::/opt/legacy/bin"',
    'echo "::set-env name=NODE_OPTIONS::--require=/tmp/x.js"',
    'echo "LEGACY=file wins" >> "$GITHUB_ENV"',
  ].join("\n");

  test.each([
    ["drover's environment (the administrator's)", "base"],
    ["what drover passes the hook of the job", "job"],
  ])('"true" in %s: ::set-env and ::add-path work as on GitHub', async (_where, source) => {
    using dir = tempDir();
    const path = dir.file("start.sh", script);
    const c = await run(dir, {
      path,
      ...(source === "base"
        ? { baseEnv: { ...baseEnv(dir), ACTIONS_ALLOW_UNSECURE_COMMANDS: "true" } }
        : { job: jobContext(dir, [{ key: "ACTIONS_ALLOW_UNSECURE_COMMANDS", value: "TRUE" }]) }),
    });
    // set-env applies at once, GITHUB_ENV after the script: the file wins, as on GitHub.
    expect(c.env).toEqual([
      ["LEGACY", "set the old way"],
      ["LEGACY", "file wins"],
    ]);
    expect(c.paths).toEqual(["/opt/legacy/bin"]);
    expect(c.annotations.map((a) => a.message)).toEqual([
      "output line 3: Can't update NODE_OPTIONS environment variable using ::set-env:: command.",
    ]);
    expect(c.result?.kind).toBe(ResultKind.SUCCESS);
  });

  test('anything but "true": they stay disabled and fail the hook', async () => {
    using dir = tempDir();
    const path = dir.file("start.sh", script);
    const c = await run(dir, { path, baseEnv: { ...baseEnv(dir), ACTIONS_ALLOW_UNSECURE_COMMANDS: "1" } });
    expect(c.env).toEqual([["LEGACY", "file wins"]]);
    expect(c.result?.message).toBe(`Hook ${path}: a workflow command failed (output line 1)`);
  });

  test("::set-env counts against the same limits as GITHUB_ENV", async () => {
    using dir = tempDir();
    const path = dir.file(
      "start.sh",
      `printf '::set-env name=BIG::%s\\n' "$(head -c ${200 * 1024} /dev/zero | tr '\\0' x)"\necho after\n`,
    );
    const c = await run(dir, { path, baseEnv: { ...baseEnv(dir), ACTIONS_ALLOW_UNSECURE_COMMANDS: "true" } });
    expect(c.env).toEqual([]);
    expect(c.annotations.map((a) => a.message)).toEqual([
      "output line 1: Unable to process command '::set-env name=BIG::' successfully. BIG is 201 KiB long; an environment variable can hold at most 128 KiB, no process could be started with it",
    ]);
    expect(c.result?.message).toBe(`Hook ${path}: a workflow command failed (output line 1)`);
  });
});

describe("hook script: what a hook leaves running", () => {
  const containment = (dir: TempDir) =>
    create(JobContainmentSchema, { trackingId: `hooks-test-${basename(dir.path)}`, cgroup: "" });
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  test("with a job containment, a background process outlives the script until the job's end", async () => {
    using dir = tempDir();
    const pidFile = join(dir.path, "pid");
    const path = dir.file(
      "start.sh",
      `nohup sleep 300 > /dev/null 2>&1 &\necho $! > ${JSON.stringify(pidFile)}\necho started\n`,
    );
    const job = jobContext(dir);
    job.containment = containment(dir);
    try {
      const c = await run(dir, { path, job });
      expect(scriptOutput(c)).toBe("started\n");
      expect(c.result?.kind).toBe(ResultKind.SUCCESS);
      const pid = Number(readFileSync(pidFile, "utf8"));
      expect(alive(pid)).toBe(true);
    } finally {
      // What the core does when the job ends (src/process/containment.ts).
      sweepJobProcesses(containment(dir).trackingId);
    }
    await expectNoLeftovers(testMarker.entry);
  });

  test("a background process holding the output ends the step after the hold; what it prints later is dropped, and it lives on", async () => {
    using dir = tempDir();
    const wrote = join(dir.path, "wrote");
    const path = dir.file(
      "start.sh",
      `(echo in-time; sleep 2; echo too-late; touch ${JSON.stringify(wrote)}; sleep 300) &\necho leader-done\n`,
    );
    const job = jobContext(dir);
    job.containment = containment(dir);
    try {
      // The step ends although `sleep 300` still holds its output: the hold cut it.
      const c = await run(dir, { path, job, outputHoldMs: 500 });
      expect(scriptOutput(c).split("\n").sort()).toEqual(["", "in-time", "leader-done"]);
      expect(c.result?.kind).toBe(ResultKind.SUCCESS);
      // It wrote into the pipe after the step ended, and did not die of SIGPIPE.
      await waitFor("the background process to write after the hold", () => existsSync(wrote));
    } finally {
      sweepJobProcesses(containment(dir).trackingId);
    }
    await expectNoLeftovers(testMarker.entry);
  });

  test("without a containment, nothing outlives the script", async () => {
    using dir = tempDir();
    const pidFile = join(dir.path, "pid");
    const path = dir.file("start.sh", `sleep 300 > /dev/null 2>&1 &\necho $! > ${JSON.stringify(pidFile)}\n`);
    const c = await run(dir, { path });
    expect(c.result?.kind).toBe(ResultKind.SUCCESS);
    await waitFor("the background process to be killed", () => !alive(Number(readFileSync(pidFile, "utf8"))));
    await expectNoLeftovers(testMarker.entry);
  });
});
