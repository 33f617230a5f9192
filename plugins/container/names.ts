/**
 * How the plugin names and labels what it creates, so that a later instance can tell its own
 * leftovers apart (stale.ts) and an administrator can see whose they are (`podman ps -a --filter
 * label=io.drover.container`).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

/** On every container, network and volume the plugin creates. */
export const LABEL = "io.drover.container";
/** The plugin process that created it: `<pid>:<start time in clock ticks since boot>`. */
export const OWNER_LABEL = "io.drover.container.owner";
export const JOB_LABEL = "io.drover.container.job";

/** This process as OWNER_LABEL says it: a pid alone could be reused by another process. */
export function ownerId(pid = process.pid): string | undefined {
  const start = startTime(pid);
  return start === undefined ? undefined : `${pid}:${start}`;
}

/** Whether the process an owner label names is still the one running. */
export function ownerAlive(owner: string): boolean {
  const [pid, start] = owner.split(":");
  return pid !== undefined && start !== undefined && startTime(Number(pid)) === start;
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
