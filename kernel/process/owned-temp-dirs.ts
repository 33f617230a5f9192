/**
 * Temp dirs that outlive the process that made them, and their removal at the next start.
 *
 * drover and its built-in plugins keep private dirs in `$TMPDIR` while they work: plugin socket
 * dirs (`drover-plugin-`, src/plugin/launch.ts), shell executor script dirs (`drover-shell-`),
 * custom executor job dirs (`custom-executor-`, with the job JSON in them) and hook dirs
 * (`drover-hook-`). Every graceful path removes them; a SIGKILL (the OOM killer, `kill -9`, a
 * power cut) does not. So each such dir names its owner: the PID namespace, pid and start time of the
 * process that made it (`drover-shell-o4026531836.4242.81234567-AbC123`), and `removeStaleTempDirs`
 * (run when `drover exec` starts) deletes those whose owner is no longer running. The start time
 * tells a reused pid from the owner. A dir whose owner may still be alive is always kept, and so is
 * one whose owner lived in another PID namespace (a container sharing this TMPDIR: its pids mean
 * nothing here) or whose name does not say (an older drover's mark, another program's dir, a GitLab
 * Runner's `custom-executor...`): only what is proven dead is removed.
 *
 * Tests: test/e2e/faults/core-faults.test.ts ("SIGKILL mid-job"), test/e2e/attacks/stale-dirs.test.ts.
 */
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The prefixes an owned dir may have: `drover-<name>-` (lower-case letters and digits: drover's
 * `drover-plugin-`, `drover-shell-`, `drover-hook-`, and any plugin's own) and GitLab Runner's
 * `custom-executor-` (the custom executor's job dirs keep GitLab's name).
 */
export type OwnedDirPrefix = `drover-${string}-` | "custom-executor-";

const PREFIX = /^(?:drover-[a-z0-9]+|custom-executor)-$/;
const OWNED_DIR = /^(drover-[a-z0-9]+|custom-executor)-o(\d+)\.(\d+)\.(\d+)-[A-Za-z0-9]{6}$/;

/** /proc/PID/stat from field 3 (state) on, or undefined when unknown. */
function statFields(pid: number | "self"): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // The command name (field 2) may hold spaces and parentheses: count from the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** The start time of `pid` in clock ticks after boot (/proc/PID/stat field 22); "0" when unknown. */
function startTime(pid: number | "self"): string {
  return statFields(pid)?.[19] ?? "0";
}

/** The inode of this process's PID namespace ("pid:[4026531836]" → "4026531836"); "0" when unknown. */
function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1] ?? "0";
  } catch {
    return "0";
  }
}

let ownMark: string | undefined;
let ownNamespace: string | undefined;

/** `o<pid namespace>.<pid>.<start time>`: who made a dir (also a job cgroup's name: src/process/containment.ts). */
export function ownerMark(): string {
  ownNamespace ??= pidNamespace();
  ownMark ??= `o${ownNamespace}.${process.pid}.${startTime("self")}`;
  return ownMark;
}

/**
 * A fresh private dir (0700: mkdtemp's mode) in `parent` (default: the temp dir), named
 * `<prefix><owner mark>-XXXXXX` so that a later drover can tell whether it was left behind.
 */
export function ownedTempDir(prefix: OwnedDirPrefix, parent = tmpdir()): string {
  if (!PREFIX.test(prefix)) {
    throw new Error(`ownedTempDir: prefix ${JSON.stringify(prefix)} is not "drover-<letters and digits>-"`);
  }
  return mkdtempSync(join(parent, `${prefix}${ownerMark()}-`));
}

/**
 * Whether the owner named by a mark (`o<ns>.<pid>.<start>`) is proven gone: it lived in this PID
 * namespace and no longer runs. Anything else (another namespace, a malformed mark) is not proven.
 */
export function markedOwnerGone(mark: string): boolean {
  const match = /^o(\d+)\.(\d+)\.(\d+)$/.exec(mark);
  ownerMark();
  if (!match || match[1] === "0" || match[1] !== ownNamespace) return false;
  return !ownerAlive(Number(match[2]), match[3]!);
}

/** Whether the process that made a dir may still be running. */
function ownerAlive(pid: number, start: string): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // ESRCH: no such process. EPERM: it exists (another user's), so it is alive.
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const fields = statFields(pid);
  // A zombie has exited: nobody reaped it yet (a container's init may never do).
  if (fields?.[0] === "Z") return false;
  // Alive, unless the pid now belongs to another process (pid reuse): compare start times.
  const now = fields?.[19] ?? "0";
  return start === "0" || now === "0" || now === start;
}

/**
 * Removes the dirs under `parent` (default: the temp dir) that drover's processes made and whose
 * owner is gone; returns their paths. Never throws: a dir that cannot be read or removed stays.
 */
export function removeStaleTempDirs(parent = tmpdir()): string[] {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const name of names) {
    const match = OWNED_DIR.exec(name);
    // Another PID namespace's pid says nothing here; an unknown namespace proves nothing either.
    if (!match || !markedOwnerGone(`o${match[2]}.${match[3]}.${match[4]}`)) continue;
    const path = join(parent, name);
    try {
      const stat = lstatSync(path);
      // Only real dirs of drover's own user (a shared /tmp holds everyone's).
      if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  return removed;
}
