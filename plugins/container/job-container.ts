/**
 * One job's containers and what they share (README.md, "What a job gets"):
 *
 *   a network of its own           drover-<job>-<rand>; its services join it under their aliases
 *   the job's container            from the job's image, kept alive; every stage is `exec`ed in it
 *   /builds                        a volume of the job's own, removed with it
 *   /cache                         a volume per project, kept between jobs (the local cache)
 *   the stage scripts              given on stdin, written to a private file in the container
 *   /usr/local/bin/drover (ro)     the drover binary, for artifacts and caches (its helper mode)
 *
 * Everything but the cache volume carries the plugin's labels and is removed at Cleanup, or by the
 * next instance when this one was killed (stale.ts).
 */
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import type { Image } from "@drover/plugin-sdk";
import type { ContainerCli } from "./cli.ts";
import { jobPrefix, LABEL, labelArgs } from "./names.ts";
import type { ServiceSpec } from "./services.ts";
import { serviceAliases } from "./services.ts";
import type { Settings } from "./settings.ts";

export const BUILDS_DIR = "/builds";
export const CACHE_DIR = "/cache";
export const HELPER_PATH = "/usr/local/bin/drover";

/** Keeps the job's container up between stages, and stops at once on SIGTERM. */
const KEEP_ALIVE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"];

export interface JobContainer {
  jobId: string;
  settings: Settings;
  cli: ContainerCli;
  image: Image;
  services: ServiceSpec[];
  prefix: string;
  container: string;
  /** undefined with `network_mode`. */
  network: string | undefined;
  buildsVolume: string;
  cacheVolume: string;
  /** A private host directory (0700) for what the CLI reads: services' env files. */
  scriptsDir: string;
  /** What was created so far, for Cleanup: containers, networks, volumes. */
  created: { containers: string[]; networks: string[]; volumes: string[] };
}

export function planJob(
  jobId: string,
  settings: Settings,
  cli: ContainerCli,
  image: Image,
  services: readonly Image[],
  projectPath: string,
  scriptsDir: string,
): JobContainer {
  const prefix = jobPrefix(jobId);
  return {
    jobId,
    settings,
    cli,
    image,
    services: services.map((service, index) => ({
      image: service,
      index,
      aliases: serviceAliases(service),
      container: `${prefix}-svc-${index}`,
    })),
    prefix,
    container: prefix,
    network: settings.networkMode === undefined ? prefix : undefined,
    buildsVolume: `${prefix}-builds`,
    // One per project: a project's jobs share their caches, other projects' jobs do not see them.
    cacheVolume: `drover-cache-${createHash("sha256").update(projectPath).digest("hex").slice(0, 16)}`,
    scriptsDir,
    created: { containers: [], networks: [], volumes: [] },
  };
}

export async function createNetwork(job: JobContainer, owner: string): Promise<void> {
  if (job.network === undefined) return;
  await job.cli.run(["network", "create", ...labelArgs(owner, job.jobId), job.network]);
  job.created.networks.push(job.network);
}

export async function createVolumes(job: JobContainer, owner: string): Promise<void> {
  await job.cli.run(["volume", "create", ...labelArgs(owner, job.jobId), job.buildsVolume]);
  job.created.volumes.push(job.buildsVolume);
  if (!(await job.cli.succeeds(["volume", "inspect", job.cacheVolume]))) {
    // Two jobs of one project may both create it: the second one's failure is no failure.
    await job.cli
      .run(["volume", "create", "--label", `${LABEL}.cache=1`, job.cacheVolume])
      .catch(async (err) => {
        if (!(await job.cli.succeeds(["volume", "inspect", job.cacheVolume]))) throw err;
      });
  }
}

/** Starts the job's container; it then waits for `exec`s. */
export async function startJobContainer(job: JobContainer, owner: string): Promise<void> {
  const s = job.settings;
  const args = ["run", "-d", "--name", job.container, "--hostname", job.container.slice(0, 63)];
  args.push(...labelArgs(owner, job.jobId));
  args.push("--network", job.network ?? s.networkMode ?? "bridge");
  args.push("-v", `${job.buildsVolume}:${BUILDS_DIR}`, "-v", `${job.cacheVolume}:${CACHE_DIR}`);
  args.push("-v", `${s.helperPath}:${HELPER_PATH}:ro`);
  for (const volume of s.volumes) args.push("-v", volume);
  if (s.privileged) args.push("--privileged");
  if (s.memory !== undefined) args.push("--memory", s.memory);
  if (s.cpus !== undefined) args.push("--cpus", String(s.cpus));
  for (const host of s.extraHosts) args.push("--add-host", host);
  if (s.runtime !== undefined) args.push("--runtime", s.runtime);
  const [entry, ...entryRest] = job.image.entrypoint;
  if (entry !== undefined) args.push("--entrypoint", entry);
  args.push(job.image.name, ...entryRest, ...KEEP_ALIVE);
  job.created.containers.push(job.container);
  await job.cli.run(args);
}

/**
 * The volumes are created owned by root: an image whose user is not root gets /builds and /cache
 * as its own (GitLab's docker executor makes them writable for all with umask 0000 instead).
 */
export async function giveVolumesToImageUser(job: JobContainer): Promise<void> {
  const user = await job.cli.run(["inspect", "--format", "{{.Config.User}}", job.container]);
  if (user === "" || user === "root" || user === "0" || user === "0:0") return;
  const ids = await job.cli.run(["exec", job.container, "sh", "-c", 'echo "$(id -u):$(id -g)"']);
  await job.cli.run(["exec", "-u", "0", job.container, "chown", ids, BUILDS_DIR, CACHE_DIR]);
}

/**
 * Signals the processes of one stage in the job's container: those whose environment holds
 * `DROVER_STAGE=<mark>` (the `exec` sets it; children inherit it). Nothing else in the container is
 * touched: not its first process (an init such as tini, or the keep-alive), not a later stage.
 */
function signalStage(job: JobContainer, mark: string, signal: "TERM" | "KILL"): Promise<void> {
  const script =
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's own ${...}
    'for e in /proc/[0-9]*/environ; do tr "\\0" "\\n" <"$e" 2>/dev/null | grep -qxF "DROVER_STAGE=$1" || continue; p=${e#/proc/}; kill -"$2" "${p%/environ}" 2>/dev/null; done; exit 0';
  return job.cli.run(["exec", job.container, "bash", "-c", script, "stop-stage", mark, signal]).then(
    () => {},
    () => {},
  );
}

/** Stops a stage: SIGTERM to its processes, SIGKILL after `graceMs` if it has not ended. */
export async function stopStage(
  job: JobContainer,
  mark: string,
  isDone: () => boolean,
  graceMs: number,
): Promise<void> {
  await signalStage(job, mark, "TERM");
  const deadline = Date.now() + graceMs;
  while (!isDone() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!isDone()) await signalStage(job, mark, "KILL");
}

/** Removes everything the job created; returns what could not be removed. */
export async function removeJob(job: JobContainer): Promise<string[]> {
  const problems: string[] = [];
  const attempt = async (args: string[]) => {
    try {
      await job.cli.run(args);
    } catch (err) {
      problems.push((err as Error).message);
    }
  };
  if (job.created.containers.length) {
    // SIGKILL first: rm -f would wait out each container's stop timeout (a service ignoring SIGTERM).
    await job.cli.run(["kill", ...job.created.containers]).catch(() => {});
    await attempt(["rm", "-f", "-v", ...job.created.containers]);
  }
  if (job.created.networks.length) await attempt(["network", "rm", ...job.created.networks]);
  if (job.created.volumes.length) await attempt(["volume", "rm", "-f", ...job.created.volumes]);
  rmSync(job.scriptsDir, { recursive: true, force: true });
  job.created = { containers: [], networks: [], volumes: [] };
  return problems;
}
