/**
 * The sandbox executor: an external executor plugin written with drover's SDK (see README.md).
 *
 * Each job gets a private directory (0700) under the plugin's base dir:
 *
 *   <base_dir>/job-<id>-XXXXXX/
 *     home/     HOME of every stage
 *     builds/   the builds_dir answered to Configure (the project is checked out below it)
 *     cache/    the cache_dir answered to Configure
 *     scripts/  the stage scripts drover sends, one file per Run
 *
 * Every stage runs as `bash <script>` with its working directory in the job's private directory and a
 * clean environment: PATH, HOME (the private home) and LANG, then the job's variables from the Run
 * request. Nothing else of the plugin's own environment reaches the job (the one exception is
 * DROVER_PROCESS_TAG, which the process module adds so that drover can find leftovers).
 * Cleanup removes the whole directory.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { isAbsolute, join } from "node:path";
import {
  type Child,
  type ConfigureEventSchema,
  describeTrustProblem,
  type ExecutorPlugin,
  type MessageInitShape,
  mergeOutput,
  output,
  ownedTempDir,
  pathTrustProblems,
  ResultKind,
  result,
  stageResultFromExit,
  startChild,
} from "@drover/plugin-sdk";

/** SIGTERM → SIGKILL grace for a cancelled stage. */
const STAGE_GRACE_MS = 5_000;
/** Used when the job has no PATH of its own and the plugin was started without one. */
const FALLBACK_PATH = "/usr/local/bin:/usr/bin:/bin";

/** `[runners.plugin.settings]` of a runner that uses this executor. */
export const SETTINGS_SCHEMA = JSON.stringify({
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  properties: {
    base_dir: {
      type: "string",
      description:
        "Absolute directory under which each job gets its private directory; it must be owned by drover's user (or root) and writable by nobody else (default: a private directory of this plugin process in $TMPDIR).",
    },
  },
  additionalProperties: false,
});

interface Sandbox {
  /** The job's private directory; everything below it is removed by Cleanup. */
  dir: string;
  home: string;
  scripts: string;
  running: Set<Child>;
}

type ConfigureEventInit = MessageInitShape<typeof ConfigureEventSchema>;

export function sandboxExecutor(version: string): ExecutorPlugin {
  const jobs = new Map<string, Sandbox>();

  const remove = async (jobId: string, sandbox: Sandbox) => {
    for (const child of sandbox.running) child.stop("shutdown");
    await Promise.all([...sandbox.running].map((child) => child.exited));
    rmSync(sandbox.dir, { recursive: true, force: true });
    jobs.delete(jobId);
  };

  return {
    info: {
      name: "sandbox",
      version,
      capabilities: ["cancel"],
      settingsSchema: SETTINGS_SCHEMA,
    },
    handlers: {
      async *configure(request) {
        const jobId = request.job?.jobId ?? "";
        const settings = parseSettings(request.job?.runnerSettingsJson ?? "");
        if (typeof settings === "string") {
          yield configureFailed(ResultKind.CONFIGURATION_ERROR, settings);
          return;
        }
        let sandbox = jobs.get(jobId);
        if (!sandbox) {
          let base: string;
          try {
            base = jobsDir(settings.baseDir);
          } catch (err) {
            // The administrator's setting: not retried.
            yield configureFailed(ResultKind.CONFIGURATION_ERROR, (err as Error).message);
            return;
          }
          try {
            sandbox = createSandbox(base, jobId);
          } catch (err) {
            yield configureFailed(
              ResultKind.SYSTEM_FAILURE,
              `cannot create the job's directory under ${JSON.stringify(settings.baseDir ?? "a private temp dir")}: ${(err as Error).message}`,
            );
            return;
          }
          jobs.set(jobId, sandbox);
        }
        yield {
          event: {
            case: "result",
            value: {
              status: { kind: ResultKind.SUCCESS },
              config: {
                buildsDir: join(sandbox.dir, "builds"),
                cacheDir: join(sandbox.dir, "cache"),
                buildsDirIsShared: false,
                hostname: hostname(),
                driver: { name: "sandbox", version },
                shell: "bash",
              },
            },
          },
        };
      },

      async *prepare(request) {
        const sandbox = jobs.get(request.job?.jobId ?? "");
        if (!sandbox) {
          yield result(ResultKind.SYSTEM_FAILURE, 0, "prepare: the job was not configured");
          return;
        }
        yield output(
          "stdout",
          `Sandbox directory ${sandbox.dir} (clean environment, HOME=${sandbox.home})\n`,
        );
        yield result(ResultKind.SUCCESS);
      },

      async *run(request, ctx) {
        const sandbox = jobs.get(request.jobId);
        if (!sandbox) {
          yield result(ResultKind.SYSTEM_FAILURE, 0, `${request.stage}: the job was not configured`);
          return;
        }
        const scriptPath = join(sandbox.scripts, `${request.stage.replace(/[^\w.-]/g, "_")}.sh`);
        writeFileSync(scriptPath, request.script, { mode: 0o700 });
        const child = startChild({
          name: `stage ${request.stage}`,
          command: "bash",
          args: ["--noprofile", "--norc", scriptPath],
          cwd: sandbox.dir,
          env: stageEnv(sandbox, request.env),
          graceMs: STAGE_GRACE_MS,
          signal: ctx.signal,
        });
        sandbox.running.add(child);
        try {
          for await (const chunk of mergeOutput(child.stdout, child.stderr)) {
            yield output(chunk.stream, chunk.data);
          }
          yield stageResultFromExit(await child.exited);
        } finally {
          // Reached on cancel too (drover went away mid-stream): the stage must stop before we forget it.
          child.stop("cancel");
          await child.exited;
          sandbox.running.delete(child);
          rmSync(scriptPath, { force: true });
        }
      },

      async *cleanup(request) {
        const sandbox = jobs.get(request.jobId);
        if (sandbox) {
          await remove(request.jobId, sandbox);
          yield output("stdout", `removed ${sandbox.dir}\n`);
        }
        yield result(ResultKind.SUCCESS);
      },
    },

    async shutdown() {
      await Promise.all([...jobs].map(([jobId, sandbox]) => remove(jobId, sandbox)));
      if (privateBase) rmSync(privateBase, { recursive: true, force: true });
    },
  };
}

/** The settings drover hands over (`[runners.plugin.settings]` as JSON), or a one-line problem. */
export function parseSettings(json: string): { baseDir: string | undefined } | string {
  const fallback = { baseDir: undefined };
  if (json.trim() === "") return fallback;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    return `sandbox settings are not JSON: ${(err as Error).message}`;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    return "sandbox settings: expected a table";
  const { base_dir: baseDir, ...unknown } = parsed as Record<string, unknown>;
  const unknownKeys = Object.keys(unknown);
  if (unknownKeys.length)
    return `sandbox settings: unknown key(s) ${unknownKeys.map((k) => JSON.stringify(k)).join(", ")}; expected only "base_dir"`;
  if (baseDir === undefined) return fallback;
  if (typeof baseDir !== "string" || !isAbsolute(baseDir))
    return `sandbox settings: base_dir must be an absolute path, got ${JSON.stringify(baseDir)}`;
  return { baseDir };
}

/**
 * Where jobs' directories go. No fixed shared path (another local user could create it first and read
 * or change the stage scripts): without `base_dir`, a private (0700) directory of this plugin process
 * that drover removes if the plugin is killed; with one, it must be trusted like the plugin itself.
 */
let privateBase: string | undefined;
function jobsDir(baseDir: string | undefined): string {
  if (baseDir === undefined) {
    privateBase ??= ownedTempDir("drover-sandbox-");
    return privateBase;
  }
  mkdirSync(baseDir, { recursive: true, mode: 0o700 });
  const untrusted = pathTrustProblems(baseDir)[0];
  if (untrusted) throw new Error(`base_dir is not trusted: ${describeTrustProblem(untrusted)}`);
  return baseDir;
}

function createSandbox(baseDir: string, jobId: string): Sandbox {
  // mkdtemp: 0700 and a random suffix, so two drover processes with the same job id never collide.
  const dir = mkdtempSync(join(baseDir, `job-${jobId.replace(/[^\w.-]/g, "_")}-`));
  const sandbox = { dir, home: join(dir, "home"), scripts: join(dir, "scripts"), running: new Set<Child>() };
  for (const sub of [sandbox.home, sandbox.scripts, join(dir, "builds"), join(dir, "cache")])
    mkdirSync(sub, { mode: 0o700 });
  return sandbox;
}

/** `env -i PATH=... HOME=... LANG=...` plus the job's variables (which may override any of the three). */
function stageEnv(sandbox: Sandbox, jobEnv: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH || FALLBACK_PATH,
    HOME: sandbox.home,
    LANG: process.env.LANG || "C.UTF-8",
    ...jobEnv,
  };
}

function configureFailed(kind: ResultKind, message: string): ConfigureEventInit {
  return { event: { case: "result", value: { status: { kind, message } } } };
}
