/**
 * The container executor (README.md): Configure reads the settings and the job's image, Prepare
 * has the images, creates the job's network, volumes, services and container, Run `exec`s each
 * stage's script in the container, Cleanup removes it all.
 */
import { writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import {
  create,
  type ExecutorPlugin,
  ImageSchema,
  mergeOutput,
  output,
  ownedTempDir,
  ResultKind,
  result,
  type StageEventInit,
} from "@drover/plugin-sdk";
import { ContainerCli } from "./cli.ts";
import { ensureImage, ImageError, pullPolicies } from "./image.ts";
import {
  BUILDS_DIR,
  CACHE_DIR,
  createNetwork,
  createVolumes,
  giveVolumesToImageUser,
  type JobContainer,
  planJob,
  removeJob,
  startJobContainer,
  stopStage,
} from "./job-container.ts";
import { labelArgs, ownerId } from "./names.ts";
import { ServiceLogs } from "./service-logs.ts";
import { servicePorts, serviceRunArgs, waitForPort } from "./services.ts";
import { parseSettings, SETTINGS_SCHEMA } from "./settings.ts";
import { removeStaleOnce } from "./stale.ts";

const NAME = "container";
/**
 * Runs the stage script read from stdin with bash, with stdin then at its end (as a stage's stdin
 * always is). Exit 125 when it cannot be written: the container CLI's own code for its failures.
 */
const RUN_STAGE =
  'umask 077; f=$(mktemp /tmp/drover-stage.XXXXXX) && cat >"$f" && exec 3<"$f" </dev/null && rm -f "$f" && exec bash --noprofile --norc /dev/fd/3; exit 125';
const VERSION = "0.1.0";
/** SIGTERM → SIGKILL for a cancelled stage's processes. */
const STAGE_GRACE_MS = 5_000;

interface Job extends JobContainer {
  variables: Map<string, string>;
  logs: ServiceLogs;
  /** Stages started, for each stage's DROVER_STAGE mark. */
  stages: number;
  /** A cancelled stage being stopped: the next Run waits for it. */
  stopping: Promise<void> | undefined;
  /** Prepare while it runs: Cleanup waits for it, so that nothing it starts is missed. */
  preparing: Promise<void> | undefined;
}

export function containerExecutor(): ExecutorPlugin {
  const jobs = new Map<string, Job>();
  const owner = ownerId() ?? `${process.pid}:0`;

  const forget = async (job: Job): Promise<string[]> => {
    job.logs.stop();
    jobs.delete(job.jobId);
    return removeJob(job);
  };

  return {
    info: {
      name: NAME,
      version: VERSION,
      capabilities: ["cancel"],
      settingsSchema: JSON.stringify(SETTINGS_SCHEMA),
    },
    handlers: {
      async *configure(request) {
        const context = request.job;
        const jobId = context?.jobId ?? "";
        const settings = parseSettings(context?.runnerSettingsJson ?? "");
        const cli = new ContainerCli(settings.cli);
        const image = context?.image?.name
          ? context.image
          : settings.image
            ? create(ImageSchema, { name: settings.image })
            : undefined;
        if (!image) {
          yield configureFailed(
            ResultKind.CONFIGURATION_ERROR,
            "the job names no image and the runner has no default one ([runners.plugin.settings] image)",
          );
          return;
        }
        await removeStaleOnce(cli);
        const variables = new Map(
          (context?.variables ?? []).filter((v) => !v.file).map((v) => [v.key, v.value]),
        );
        const projectPath = variables.get("CI_PROJECT_PATH") ?? "";
        if (context?.services.length && settings.networkMode !== undefined) {
          yield configureFailed(
            ResultKind.CONFIGURATION_ERROR,
            `the job has services, which need a network of the job's own; network_mode ${JSON.stringify(settings.networkMode)} gives none`,
          );
          return;
        }
        const job: Job = {
          ...planJob(
            jobId,
            settings,
            cli,
            image,
            context?.services ?? [],
            projectPath,
            ownedTempDir("drover-container-"),
          ),
          variables,
          logs: new ServiceLogs(cli, variables.get("CI_DEBUG_SERVICES") === "true"),
          stages: 0,
          stopping: undefined,
          preparing: undefined,
        };
        jobs.set(jobId, job);
        yield {
          event: {
            case: "result",
            value: {
              status: { kind: ResultKind.SUCCESS },
              config: {
                buildsDir: BUILDS_DIR,
                cacheDir: CACHE_DIR,
                buildsDirIsShared: false,
                hostname: hostname(),
                driver: { name: NAME, version: VERSION },
                shell: "bash",
              },
            },
          },
        };
      },

      async *prepare(request) {
        const job = jobs.get(request.job?.jobId ?? "");
        if (!job) {
          yield result(ResultKind.SYSTEM_FAILURE, 0, "prepare: the job was not configured");
          return;
        }
        // Prepare's request has every variable, the ones that depend on Configure included.
        job.variables = new Map(
          (request.job?.variables ?? []).filter((v) => !v.file).map((v) => [v.key, v.value]),
        );
        const lines: string[] = [];
        const say = (line: string) => lines.push(`${line}\n`);
        const flush = function* (): Generator<StageEventInit> {
          if (lines.length) yield output("stdout", lines.splice(0).join(""));
        };
        let prepared: () => void = () => {};
        job.preparing = new Promise((resolve) => {
          prepared = resolve;
        });
        try {
          yield output("stdout", `Using ${job.settings.cli} with image ${job.image.name} ...\n`);
          await ensureImage(job.cli, job.image.name, pullPolicies(job.image.pullPolicy, job.settings), say);
          yield* flush();
          await createNetwork(job, owner);
          await createVolumes(job, owner);
          for (const service of job.services) {
            say(`Starting service ${service.image.name} as ${service.aliases.join(", ")} ...`);
            await ensureImage(
              job.cli,
              service.image.name,
              pullPolicies(service.image.pullPolicy, job.settings),
              say,
            );
            job.created.containers.push(service.container);
            const envFile = writeServiceEnv(job, service);
            await job.cli.run(serviceRunArgs(service, job.network!, labelArgs(owner, job.jobId), envFile));
            job.logs.follow(service);
            yield* flush();
          }
          await startJobContainer(job, owner);
          await giveVolumesToImageUser(job);
          yield* flush();
          for (const service of job.services) yield* waitForService(job, service);
          yield* job.logs.drain();
          yield result(ResultKind.SUCCESS);
        } catch (err) {
          yield* flush();
          const configuration = err instanceof ImageError && err.configuration;
          yield result(
            configuration ? ResultKind.CONFIGURATION_ERROR : ResultKind.SYSTEM_FAILURE,
            0,
            (err as Error).message,
          );
        } finally {
          job.preparing = undefined;
          prepared();
        }
      },

      async *run(request, ctx) {
        const job = jobs.get(request.jobId);
        if (!job) {
          yield result(ResultKind.SYSTEM_FAILURE, 0, `${request.stage}: the job was not configured`);
          return;
        }
        // A cancelled stage's processes are stopped before the next stage starts (after_script).
        await job.stopping;
        const mark = `${job.prefix}-${++job.stages}`;
        // The script goes in on stdin, into a private file inside the container that bash then runs
        // (and that is gone before it starts): readable by the image's user, whoever that is, and
        // by nobody on the host.
        const stage = job.cli.stream(
          ["exec", "-i", "-e", `DROVER_STAGE=${mark}`, job.container, "sh", "-c", RUN_STAGE, "run-stage"],
          request.script,
        );
        let done = false;
        const finished = stage.exited.then((exit) => {
          done = true;
          return exit;
        });
        const onAbort = () => {
          job.stopping = stopStage(job, mark, () => done, STAGE_GRACE_MS);
        };
        ctx.signal.addEventListener("abort", onAbort, { once: true });
        try {
          yield* job.logs.drain();
          for await (const chunk of mergeOutput(stage.stdout, stage.stderr)) {
            yield output(chunk.stream, chunk.data);
            yield* job.logs.drain();
          }
          const exit = await finished;
          yield* job.logs.drain();
          yield exit.startError !== undefined
            ? result(
                ResultKind.SYSTEM_FAILURE,
                0,
                `${job.settings.cli} exec could not run: ${exit.startError}`,
              )
            : stageResult(exit.exitCode, exit.signal, ctx.signal.aborted);
        } finally {
          ctx.signal.removeEventListener("abort", onAbort);
          if (!done) {
            job.stopping ??= stopStage(job, mark, () => done, STAGE_GRACE_MS);
            await job.stopping;
            await finished;
          }
          job.stopping = undefined;
        }
      },

      async *cleanup(request) {
        const job = jobs.get(request.jobId);
        if (job) {
          await job.preparing;
          const problems = await forget(job);
          for (const problem of problems) yield output("stderr", `WARNING: cleanup: ${problem}\n`);
        }
        yield result(ResultKind.SUCCESS);
      },
    },

    async shutdown() {
      await Promise.all([...jobs.values()].map((job) => forget(job)));
    },
  };
}

/**
 * The variables a service gets (the job's, then its own), in a file in the job's private directory:
 * on the CLI's command line they would be readable by every user of the host (`ps`), masked ones
 * included. A value with a line break cannot be written in an env file and is left out, with a
 * warning that names the variable only.
 */
function writeServiceEnv(job: Job, service: Job["services"][number]): string {
  const vars = new Map(job.variables);
  for (const v of service.image.variables) if (!v.file) vars.set(v.key, v.value);
  const lines: string[] = [];
  for (const [key, value] of vars) {
    if (/[\r\n]/.test(value) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      job.logs.note(
        `variable ${key} is not given to service ${service.image.name}: an env file cannot hold it`,
      );
      continue;
    }
    lines.push(`${key}=${value}`);
  }
  const file = join(job.scriptsDir, `service-${service.index}.env`);
  writeFileSync(file, `${lines.join("\n")}\n`, { mode: 0o600 });
  return file;
}

/** GitLab's health check of one service: its ports from the job's container, a warning when silent. */
async function* waitForService(job: Job, service: Job["services"][number]): AsyncGenerator<StageEventInit> {
  const seconds = job.settings.waitForServicesSeconds;
  if (seconds === 0) return;
  const ports = await servicePorts(job.cli, service.image, job.variables);
  const alias = service.aliases[0] ?? service.container;
  for (const port of ports) {
    yield output("stdout", `Waiting for service ${service.image.name} on ${alias}:${port} ...\n`);
    if (await waitForPort(job.cli, job.container, alias, port, seconds)) continue;
    const logs = await job.cli
      .run(["logs", "--tail", "20", service.container])
      .catch((err) => (err as Error).message);
    yield output(
      "stdout",
      `*** WARNING: Service ${service.image.name} probably didn't start properly.\n\nHealth check error:\nservice "${alias}" did not answer on port ${port} within ${seconds} s\n\nService container logs:\n${logs}\n\n*********\n`,
    );
  }
}

/** How `exec` ended: the script's exit code; 125, the CLI's own failure; a signal, a killed stage. */
function stageResult(
  exitCode: number | undefined,
  signal: string | undefined,
  cancelled: boolean,
): StageEventInit {
  if (exitCode === 0) return result(ResultKind.SUCCESS);
  if (exitCode === 125)
    return result(
      ResultKind.SYSTEM_FAILURE,
      0,
      "the container CLI could not run the stage in the job's container (exit 125)",
    );
  if (exitCode !== undefined) return result(ResultKind.BUILD_FAILURE, exitCode, `exit status ${exitCode}`);
  return result(
    ResultKind.BUILD_FAILURE,
    137,
    cancelled ? "stopped: the stage was cancelled" : `terminated by ${signal ?? "a signal"}`,
  );
}

function configureFailed(kind: ResultKind, message: string) {
  return { event: { case: "result" as const, value: { status: { kind, message } } } };
}
