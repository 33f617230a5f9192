/**
 * A project reading another project's cache by choosing the same cache key (docs/security.md,
 * "Caches"): the local cache is laid out per project, as GitLab Runner lays it out
 * (`<cache_dir>/<namespace>/<project>/<key>/`), so neither the data nor the name crosses projects.
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, drover, ensureBuilt, jobJson, shellRunnerConfig, tempDir } from "../../harness.ts";

ensureBuilt();

test("project B with project A's cache key restores nothing of A's", async () => {
  using dir = tempDir();
  const cacheDir = join(dir.path, "cache");
  const config = shellRunnerConfig(dir, { builds_dir: join(dir.path, "builds"), cache_dir: cacheDir });
  const cache = [
    { key: "default-non_protected", paths: ["secret.txt"], policy: "pull-push", when: "on_success" },
  ];
  const job = (project: string, script: string[]) =>
    dir.file(
      `${project.replace("/", "-")}.json`,
      jobJson({
        variables: [
          { key: "GIT_STRATEGY", value: "none" },
          { key: "CI_PROJECT_PATH", value: project },
        ],
        cache,
        script,
      }),
    );
  const env = cleanEnv(dir.path);
  const a = await drover(["exec", "--config", config, job("grp/proj-a", ["echo A-private > secret.txt"])], {
    cwd: dir.path,
    env,
  });
  expect(a.stdout).toContain("Created cache");
  expect(a.exitCode).toBe(0);
  expect(existsSync(join(cacheDir, "grp", "proj-a", "default-non_protected", "cache.zip"))).toBe(true);

  const b = await drover(
    ["exec", "--config", config, job("other/proj-b", ['cat secret.txt 2>/dev/null || echo "nothing of A"'])],
    { cwd: dir.path, env },
  );
  expect(b.exitCode).toBe(0);
  expect(b.stdout).toContain("Checking cache for default-non_protected...");
  expect(b.stdout).toContain("WARNING: file does not exist");
  expect(b.stdout).toContain("nothing of A");
  expect(b.stdout).not.toContain("A-private");
});
