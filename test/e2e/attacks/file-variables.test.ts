/**
 * Another local user waiting for a job's file variables in a shared builds_dir (docs/security.md,
 * "File variables"): they create `<project dir>.tmp/DEPLOY_KEY` first, readable and writable by all,
 * so that drover writes the secret into their file. The directory must be the job's own.
 */
import { expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  jobJson,
  runProcess,
  shellRunnerConfig,
  tempDir,
} from "../../harness.ts";

ensureBuilt();

const SECRET = "-----BEGIN KEY----- s3cr3t";

test("a file variables dir another user made first: the job refuses to write the secret there", async () => {
  using dir = tempDir();
  // A shared builds_dir others may write to (sticky, as /tmp), reachable by them.
  chmodSync(dir.path, 0o755);
  const builds = join(dir.path, "builds");
  // The shell executor's shared layout: <builds_dir>/<runner short token>/<concurrent id>/<project>.
  const project = join(builds, "local", "0", "group", "proj");
  mkdirSync(join(builds, "local", "0", "group"), { recursive: true });
  for (const d of ["", "local", "local/0", "local/0/group"]) chmodSync(join(builds, d), 0o1777);
  // The other user, first.
  const planted = `${project}.tmp/DEPLOY_KEY`;
  const attacker = await runProcess(
    [
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "sh",
      "-c",
      `umask 0; mkdir -m 777 ${project}.tmp && : > ${planted} && chmod 666 ${planted}`,
    ],
    { cwd: "/", env: { PATH: "/usr/bin:/bin" } },
  );
  expect(attacker.exitCode).toBe(0);

  const config = shellRunnerConfig(dir, { builds_dir: builds });
  const job = dir.file(
    "job.json",
    jobJson({
      variables: [
        { key: "GIT_STRATEGY", value: "none" },
        { key: "CI_PROJECT_PATH", value: "group/proj" },
        { key: "DEPLOY_KEY", value: SECRET, file: true, masked: false },
      ],
      script: ['echo "deploying with $DEPLOY_KEY"'],
    }),
  );
  const result = await drover(["exec", "--config", config, job], { cwd: dir.path, env: cleanEnv(dir.path) });
  expect(result.stdout).toContain(
    `ERROR: refusing to write file variables into ${project}.tmp: it exists and is not a private (0700) directory of drover's user`,
  );
  expect(result.stdout).not.toContain("deploying with");
  expect(result.exitCode).not.toBe(0);
  // Not in the planted file (cleanup_file_variables may have removed it since), nowhere on disk.
  if (existsSync(planted)) expect(readFileSync(planted, "utf8")).toBe("");
  const found = await runProcess(["grep", "-rl", "s3cr3t", builds], {
    cwd: "/",
    env: { PATH: "/usr/bin:/bin" },
  });
  expect(found.stdout).toBe("");
});
