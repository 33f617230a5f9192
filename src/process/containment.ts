/**
 * Everything a job started is stopped when the job ends, in `drover exec` and `drover run` alike
 * (docs/security.md, "What a job leaves behind"). Two mechanisms, the second where the host allows
 * it:
 *
 *  - a tracking id per job: every process of the job carries DROVER_JOB_TRACKING_ID (the stage
 *    scripts export it after the job's variables; plugins set it through startChild's `job`), and
 *    whatever still carries it when the job ends is killed. A process can drop it from its own
 *    environment (`env -u`), so this alone does not hold against a job that tries;
 *  - a cgroup v2 per job, below drover's own cgroup when drover may write there (root, or a
 *    delegated subtree as systemd's `Delegate=yes` gives one): the stage scripts join it as their
 *    first command, plugins move their processes into it, and when the job ends drover kills the
 *    whole cgroup (`cgroup.kill`). Neither `setsid` nor an emptied environment leaves it; only
 *    writing to another cgroup's `cgroup.procs`, which needs write access there (a job running as
 *    drover's own user in a delegated subtree has it: run jobs as another user to close that).
 *
 * `detectContainment` runs once per command; drover logs which mechanism is in force.
 */
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { markedOwnerGone, ownerMark } from "../../kernel/process/owned-temp-dirs.ts";
import { sweepJobProcesses } from "../../kernel/process/sweep.ts";
import type { Logger } from "../log/logger.ts";

/** How long a killed cgroup may take to empty before drover gives up waiting (and says so). */
const EMPTY_WAIT_MS = 5_000;

const JOB_CGROUP = /^drover-job-(o\d+\.\d+\.\d+)-\d+$/;

export interface Containment {
  /** For the start-up log line: "cgroup v2 (<dir>) and tracking ids", or "tracking ids only: <why>". */
  readonly description: string;
  /** The processes of one job. */
  forJob(): JobContainment;
}

export interface JobContainment {
  readonly trackingId: string;
  /** The job's cgroup directory, or "" without cgroups. */
  readonly cgroup: string;
  /** Kills everything left of the job; resolves with how many processes that was (as far as known). */
  end(): Promise<number>;
}

let jobs = 0;

/** What this host allows; never throws. */
export function detectContainment(logger: Logger): Containment {
  const own = ownCgroupV2();
  const reason = own.dir === undefined ? own.why : usable(own.dir);
  if (reason !== undefined || own.dir === undefined) {
    return {
      description: `tracking ids only: ${reason ?? own.why}`,
      forJob: () => trackedJob(undefined, logger),
    };
  }
  const parent = own.dir;
  removeStaleJobCgroups(parent, logger);
  return {
    description: `cgroup v2 (jobs below ${parent}) and tracking ids`,
    forJob: () => {
      const name = `drover-job-${ownerMark()}-${++jobs}`;
      const dir = join(parent, name);
      try {
        mkdirSync(dir);
      } catch (err) {
        logger.warn(
          { err, cgroup: dir },
          "could not create the job's cgroup; tracking ids only for this job",
        );
        return trackedJob(undefined, logger);
      }
      return trackedJob(dir, logger);
    },
  };
}

function trackedJob(cgroup: string | undefined, logger: Logger): JobContainment {
  const trackingId = `${ownerMark()}-${++jobs}-${Math.random().toString(36).slice(2, 10)}`;
  return {
    trackingId,
    cgroup: cgroup ?? "",
    async end() {
      let killed = 0;
      if (cgroup) killed += await killCgroup(cgroup, logger);
      // After the cgroup: what left it (or never joined it) but still carries the id.
      killed += sweepJobProcesses(trackingId);
      return killed;
    },
  };
}

/** Kills every process in `cgroup`, waits until it is empty, removes it; returns how many there were. */
async function killCgroup(cgroup: string, logger: Logger): Promise<number> {
  const procs = () => {
    try {
      return readFileSync(join(cgroup, "cgroup.procs"), "utf8").split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };
  const before = procs().length;
  if (before > 0) {
    try {
      if (existsSync(join(cgroup, "cgroup.kill"))) writeFileSync(join(cgroup, "cgroup.kill"), "1");
      else killOneByOne(cgroup, procs);
    } catch (err) {
      logger.warn({ err, cgroup }, "could not kill the job's cgroup");
    }
    const deadline = Date.now() + EMPTY_WAIT_MS;
    while (procs().length > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
  }
  try {
    rmdirSync(cgroup);
  } catch (err) {
    logger.warn(
      { err, cgroup, left: procs() },
      "the job's cgroup could not be removed (processes stuck in the kernel?)",
    );
  }
  return before;
}

/** Kernels before 5.14 have no cgroup.kill: freeze, SIGKILL each process, thaw. */
function killOneByOne(cgroup: string, procs: () => string[]): void {
  const freeze = join(cgroup, "cgroup.freeze");
  const frozen = existsSync(freeze);
  if (frozen) writeFileSync(freeze, "1");
  for (const pid of procs()) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // gone
    }
  }
  if (frozen) writeFileSync(freeze, "0");
}

/** Job cgroups a killed drover left (their owner is proven gone): their processes are leftovers too. */
function removeStaleJobCgroups(parent: string, logger: Logger): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const mark = JOB_CGROUP.exec(name)?.[1];
    if (mark === undefined || !markedOwnerGone(mark)) continue;
    void killCgroup(join(parent, name), logger).then((killed) => {
      if (killed)
        logger.warn(
          { cgroup: name, processes: killed },
          "killed processes a killed drover's job left behind",
        );
    });
  }
}

/** This process's cgroup v2 directory (from /proc/self/cgroup and the cgroup2 mount), or why there is none. */
function ownCgroupV2(): { dir: string; why?: undefined } | { dir?: undefined; why: string } {
  let path: string | undefined;
  let mountPoint: string | undefined;
  let mountRoot = "/";
  try {
    path = /^0::(.*)$/m.exec(readFileSync("/proc/self/cgroup", "utf8"))?.[1];
    for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      const [before, after] = line.split(" - ");
      if (after?.split(" ")[0] !== "cgroup2") continue;
      const fields = before?.split(" ") ?? [];
      mountRoot = fields[3] ?? "/";
      mountPoint = fields[4];
      break;
    }
  } catch {
    return { why: "no /proc (not Linux)" };
  }
  if (path === undefined) return { why: "this process is in no cgroup v2 hierarchy" };
  if (mountPoint === undefined) return { why: "no cgroup2 file system is mounted" };
  const inside =
    mountRoot === "/" ? path : path.startsWith(mountRoot) ? path.slice(mountRoot.length) : undefined;
  if (inside === undefined) return { why: `drover's cgroup ${path} is outside the mounted cgroup2 tree` };
  return { dir: join(mountPoint, inside) };
}

/** Why drover cannot make job cgroups below `dir`, or undefined when it can. */
function usable(dir: string): string | undefined {
  try {
    // Creating a child and moving processes into it needs write access to both.
    accessSync(dir, constants.W_OK);
    accessSync(join(dir, "cgroup.procs"), constants.W_OK);
    return undefined;
  } catch {
    return `drover's cgroup ${dir} is not writable by drover's user (delegate a subtree to it, e.g. systemd's Delegate=yes)`;
  }
}
