/**
 * The last line of "no process left behind": find processes that carry a drover process tag in
 * their environment (/proc/PID/environ, Linux) and SIGKILL them.
 *
 * Why: a job process lives in a process group that the *plugin* created. When the plugin itself is
 * SIGKILLed, nobody is left who knows that group; the processes are re-parented to init and would
 * run on. They still carry the tag they inherited, so the core finds them here.
 */
import { readdirSync, readFileSync } from "node:fs";
import { JOB_TRACKING_ENV, PROCESS_TAG_ENV } from "./env.ts";

/** Pids (other than this process) whose environment has DROVER_PROCESS_TAG equal to `tag` or below it (`tag/...`). */
export function findTaggedProcesses(tag: string): number[] {
  return findProcessesWithEnv(PROCESS_TAG_ENV, tag, { below: true });
}

/** SIGKILLs every process tagged `tag` (or below it); returns how many it signalled. */
export function sweepTaggedProcesses(tag: string): number {
  return killAll(findTaggedProcesses(tag));
}

/**
 * SIGKILLs every process whose environment carries DROVER_JOB_TRACKING_ID=`trackingId` (everything a
 * job started and left behind, as GitHub's runner does with RUNNER_TRACKING_ID); returns how many.
 */
export function sweepJobProcesses(trackingId: string): number {
  return killAll(findProcessesWithEnv(JOB_TRACKING_ENV, trackingId, { below: false }));
}

/** Pids (other than this process) with `name=value` in their environment (or `name=value/...`). */
function findProcessesWithEnv(name: string, value: string, options: { below: boolean }): number[] {
  const exact = `${name}=${value}`;
  const below = `${exact}/`;
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return found; // not Linux: nothing to sweep with
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, "latin1");
    } catch {
      continue; // gone meanwhile, or not ours
    }
    for (const variable of environ.split("\0")) {
      if (variable === exact || (options.below && variable.startsWith(below))) {
        found.push(pid);
        break;
      }
    }
  }
  return found;
}

function killAll(pids: number[]): number {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return pids.length;
}
