/**
 * The executor plugin contract as a plugin author meets it (docs/plugins.md), against the compiled
 * binary: an executor may leave out Prepare and Cleanup (go-plugin's `Unimplemented*` embedding);
 * a file variable's value travels once in Configure; a message over the protocol's size limit fails
 * at once, naming the limit; a plugin's last words on stderr are shown once per job.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  FIXTURES,
  jobJson,
  type TempDir,
  tempDir,
  tsExecutable,
} from "../harness.ts";

ensureBuilt();

function pluginConfig(dir: TempDir, fixture: string, name: string): string {
  const plugin = tsExecutable(dir, name, join(FIXTURES, "plugins", fixture));
  return dir.file(
    "config.toml",
    `[[runners]]\n  name = "${name}"\n  executor = "plugin"\n  builds_dir = "${dir.path}/builds"\n  [runners.plugin]\n    path = "${plugin}"\n`,
  );
}

describe("an executor without Prepare and Cleanup", () => {
  test("answers UNIMPLEMENTED to both: they are nothing to do, the job succeeds without a retry", async () => {
    using dir = tempDir();
    const config = pluginConfig(dir, "no-prepare-executor.ts", "no-prepare");
    const job = dir.file("job.json", jobJson({ script: ["echo ran"] }));
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.stdout).toContain("\nran\n");
    expect(result.stdout).not.toContain("Will be retried");
    expect(result.stdout).not.toContain("Cleanup script failed");
    expect(result.stdout).not.toContain("ERROR");
    expect(result.exitCode).toBe(0);
  });
});

describe("file variables in Configure", () => {
  test("the value travels in `variables` only: job_json carries it empty", async () => {
    using dir = tempDir();
    const config = pluginConfig(dir, "no-prepare-executor.ts", "no-prepare");
    const secret = "-----BEGIN CERTIFICATE----- 0123456789 -----END CERTIFICATE-----";
    const job = dir.file(
      "job.json",
      jobJson({
        variables: [
          { key: "GIT_STRATEGY", value: "none", public: true },
          { key: "CERT", value: secret, public: false, file: true },
        ],
        script: ['cat "$CERT"'],
      }),
    );
    const out = join(dir.path, "job_json.out");
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: cleanEnv(dir.path, { DROVER_TEST_JOB_JSON_OUT: out }),
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(secret);
    const sent = JSON.parse(readFileSync(out, "utf8"));
    expect(sent.variables.find((v: { key: string }) => v.key === "CERT")).toMatchObject({
      value: "",
      file: true,
    });
  });

  test("a message over the protocol's limit fails the job at once, naming the limit, not after three attempts", async () => {
    using dir = tempDir();
    const config = pluginConfig(dir, "no-prepare-executor.ts", "no-prepare");
    const job = dir.file(
      "job.json",
      jobJson({
        variables: [
          { key: "GIT_STRATEGY", value: "none", public: true },
          { key: "HUGE", value: "x".repeat(65 * 1024 * 1024), public: false, file: true },
        ],
      }),
    );
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toContain("larger than the plugin protocol's limit of 64 MiB");
    expect(result.stdout).not.toContain("Will be retried");
  }, 60_000);
});

describe("a plugin's stderr", () => {
  test("the tail of a plugin that died is shown once, not once per stage that fails after it", async () => {
    using dir = tempDir();
    const config = pluginConfig(dir, "crashy-executor.ts", "crashy");
    const job = dir.file(
      "job.json",
      jobJson({
        steps: [
          { name: "script", script: ["echo DROVER_TEST_CRASH"], timeout: 3600, when: "on_success" },
          { name: "after_script", script: ["echo after"], timeout: 3600, when: "always" },
        ],
      }),
    );
    const result = await drover(["exec", "--config", config, job], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.exitCode).toBe(2);
    expect(result.stdout.split("crashy: last words on stderr").length - 1).toBe(1);
  });
});
