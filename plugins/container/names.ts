/**
 * How the plugin names and labels what it creates, so that a later instance can tell its own
 * leftovers apart (stale.ts) and an administrator can see whose they are (`podman ps -a --filter
 * label=io.drover.container`).
 */
import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";

/** On every container, network and volume the plugin creates. */
export const LABEL = "io.drover.container";
/**
 * The plugin process that created it: `<machine id>/<boot id>/<pid namespace>/<pid>/<start time>`.
 * A pid alone could be another process's after a restart, or another machine's (two drovers on one
 * Docker daemon), or another container's (pid namespaces).
 */
export const OWNER_LABEL = "io.drover.container.owner";
export const JOB_LABEL = "io.drover.container.job";

/** This process as OWNER_LABEL says it. */
export function ownerId(pid = process.pid): string | undefined {
  const start = startTime(pid);
  return start === undefined ? undefined : [...hostIdentity(), String(pid), start].join("/");
}

/**
 * Whether what an owner label names is certainly gone: made on this machine, in this pid namespace,
 * by a process that is not running any more (or before this machine last booted). Anything else,
 * another machine's or another namespace's, is left alone: it may be another drover's live job.
 */
export function ownerGone(owner: string): boolean {
  const parts = owner.split("/");
  if (parts.length !== 5) return false;
  const [machine, boot, namespace, pid, start] = parts as [string, string, string, string, string];
  const [myMachine, myBoot, myNamespace] = hostIdentity();
  if (machine !== myMachine || namespace !== myNamespace || !machine) return false;
  if (boot !== myBoot) return true;
  return startTime(Number(pid)) !== start;
}

function hostIdentity(): [string, string, string] {
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8").trim();
    } catch {
      return "";
    }
  };
  let namespace = "";
  try {
    namespace = String(statSync("/proc/self/ns/pid").ino);
  } catch {
    // no /proc: nothing will be thought stale
  }
  return [read("/etc/machine-id"), read("/proc/sys/kernel/random/boot_id"), namespace];
}

function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // Field 22, counted after the command name (which may hold spaces and parentheses).
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** A prefix for one job's resources: `drover-<job id>-<random>` (job ids repeat across drovers). */
export function jobPrefix(jobId: string): string {
  const safe = jobId.replace(/[^a-zA-Z0-9_.-]/g, "_").slice(0, 40);
  return `drover-${safe}-${randomBytes(3).toString("hex")}`;
}

/** `--label` arguments for a resource of `jobId` owned by this process. */
export function labelArgs(owner: string, jobId: string): string[] {
  return ["--label", `${LABEL}=1`, "--label", `${OWNER_LABEL}=${owner}`, "--label", `${JOB_LABEL}=${jobId}`];
}
