/**
 * Artifacts and caches end to end, against the compiled binary: `drover run` against the fake
 * coordinator's artifacts API (test/fixtures/fake-artifacts.ts, GitLab's status codes and
 * multipart fields), a two-job pipeline (build uploads, test downloads and checks the bytes),
 * GitLab's formats (zip, gzip, raw), retries and refusals; `drover exec --artifacts-dir` as a
 * pipeline on one host; the local cache as gitlab-runner's `cache.zip`, written and read by drover
 * and read when written by Go's archive/zip (gitlab-runner's writer); a hostile archive.
 */
import { describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { FakeCoordinator, type FakeJob } from "../fixtures/fake-coordinator.ts";
import {
  cleanEnv,
  drover,
  ensureBuilt,
  jobJson,
  marker,
  type Running,
  shellRunnerConfig,
  startDrover,
  type TempDir,
  tempDir,
  waitFor,
} from "../harness.ts";

ensureBuilt();

/** A job's `artifacts:` entry as GitLab sends `artifacts:paths`: a zip archive made on success. */
function archiveArtifact(name: string, paths: string[]): Record<string, unknown> {
  return { name, paths, when: "on_success", artifact_type: "archive", artifact_format: "zip" };
}

function daemonConfig(dir: TempDir, fake: FakeCoordinator): string {
  return dir.file(
    "config.toml",
    [
      "concurrent = 2",
      "check_interval = 1",
      "[[runners]]",
      '  name = "shell"',
      `  url = "${fake.url}"`,
      '  token = "runner-token"',
      '  executor = "shell"',
      `  builds_dir = ${JSON.stringify(join(dir.path, "builds"))}`,
      "",
    ].join("\n"),
  );
}

function startDaemon(dir: TempDir, config: string): Running {
  const mark = marker();
  return startDrover(["run", "--config", config], {
    cwd: dir.path,
    env: cleanEnv(dir.path, { [mark.name]: mark.value }),
  });
}

const finished = (job: FakeJob) => job.final !== undefined;

/** The entries of a zip, by `unzip -Z1` (Info-ZIP reads what drover writes). */
function zipEntries(bytes: Buffer, dir: TempDir): string[] {
  const file = join(dir.path, `check-${Math.random().toString(36).slice(2)}.zip`);
  writeFileSync(file, bytes);
  const list = Bun.spawnSync(["unzip", "-Z1", file]);
  if (list.exitCode !== 0) throw new Error(`unzip cannot read it: ${list.stderr.toString()}`);
  return list.stdout.toString().trim().split("\n").sort();
}

describe("drover run: artifacts through GitLab's API", () => {
  test("a two-job pipeline: build uploads its archive, test downloads it (direct download) and reads the bytes", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("runner-token");
    fake.artifacts.redirectDownloads = true;
    const build = fake.enqueue("runner-token", {
      script: ["mkdir -p out/sub", "printf 'binary v1' > out/app.bin", "echo noise > out/sub/debug.log"],
      extra: {
        artifacts: [
          {
            name: "bin-$CI_JOB_ID",
            untracked: false,
            paths: ["out/"],
            exclude: ["out/**/*.log"],
            when: "on_success",
            expire_in: "1 week",
            artifact_type: "archive",
            artifact_format: "zip",
          },
        ],
      },
    });
    await using daemon = startDaemon(dir, daemonConfig(dir, fake));
    await waitFor("the build job's final state", () => finished(fake.job(build)), 30_000);
    expect(fake.job(build).final?.state).toBe("success");
    const uploads = fake.artifacts.uploads.get(build) ?? [];
    expect(
      uploads.map(({ filename, format, type, expireIn }) => ({ filename, format, type, expireIn })),
    ).toEqual([{ filename: `bin-${build}.zip`, format: "zip", type: "archive", expireIn: "1 week" }]);
    expect(zipEntries(uploads[0]!.bytes, dir)).toEqual(["out/", "out/app.bin", "out/sub/"]);
    const trace = fake.traceText(build);
    expect(trace).toContain("Uploading artifacts for successful job");
    expect(trace).toContain("out/: found 3 matching artifact files and directories");
    expect(trace).toContain(`Uploading artifacts as "archive" to coordinator... 201 Created  id=${build}`);

    const test = fake.enqueue("runner-token", {
      script: ["cat out/app.bin"],
      extra: {
        dependencies: [
          {
            id: build,
            name: "build",
            token: fake.job(build).token,
            artifacts_file: { filename: `bin-${build}.zip`, size: uploads[0]!.bytes.length },
          },
        ],
      },
    });
    await waitFor("the test job's final state", () => finished(fake.job(test)), 30_000);
    expect(fake.job(test).final?.state).toBe("success");
    const testTrace = fake.traceText(test);
    expect(testTrace).toContain(`Downloading artifacts for build (${build})...`);
    expect(testTrace).toContain("Downloading artifacts from coordinator... ok");
    expect(testTrace).toContain("\nbinary v1");
    // The direct download is a pre-signed URL: the job token went to GitLab only.
    const downloads = fake.artifacts.requests.filter((r) => r.method === "GET");
    expect(downloads.map((r) => [r.path, r.status, r.jobToken !== ""])).toEqual([
      [`/api/v4/jobs/${build}/artifacts`, 302, true],
      [`/direct-download/${build}`, 200, false],
    ]);
    // Neither token is in the traces.
    expect(trace).not.toContain(fake.job(build).token);
    expect(testTrace).not.toContain(fake.job(build).token);
    daemon.kill("SIGTERM");
    await daemon.exited;
  });

  test("reports (gzip), a raw file, and the on-failure artifacts of a failing job", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("runner-token");
    const job = fake.enqueue("runner-token", {
      script: ['echo "<testsuite/>" > junit.xml', "echo DEPLOY_URL=https://x > deploy.env", "exit 2"],
      extra: {
        artifacts: [
          {
            name: "junit",
            paths: ["junit.xml"],
            when: "always",
            artifact_type: "junit",
            artifact_format: "gzip",
          },
          {
            name: "deploy.env",
            paths: ["deploy.env"],
            when: "always",
            artifact_type: "dotenv",
            artifact_format: "raw",
          },
          archiveArtifact("never", ["junit.xml"]),
        ],
      },
    });
    await using daemon = startDaemon(dir, daemonConfig(dir, fake));
    await waitFor("the job's final state", () => finished(fake.job(job)), 30_000);
    expect(fake.job(job).final?.state).toBe("failed");
    const uploads = fake.artifacts.uploads.get(job) ?? [];
    expect(uploads.map((u) => [u.filename, u.format, u.type])).toEqual([
      ["junit.gz", "gzip", "junit"],
      ["deploy.env", "raw", "dotenv"],
    ]);
    expect(gunzipSync(uploads[0]!.bytes).toString()).toBe("<testsuite/>\n");
    // The gzip member names its file (FNAME), as gitlab-runner's does.
    expect(uploads[0]!.bytes.subarray(10, 10 + "junit.xml".length).toString()).toBe("junit.xml");
    expect(uploads[1]!.bytes.toString()).toBe("DEPLOY_URL=https://x\n");
    expect(fake.traceText(job)).toContain("Uploading artifacts for failed job");
    daemon.kill("SIGTERM");
    await daemon.exited;
  });

  test("GitLab answers 503 twice: retried; 413: the stage fails at once with GitLab's message", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("runner-token");
    fake.artifacts.unavailableUploads = 2;
    const retried = fake.enqueue("runner-token", {
      script: ["echo x > a.txt"],
      extra: {
        artifacts: [archiveArtifact("a", ["a.txt"])],
      },
    });
    await using daemon = startDaemon(dir, daemonConfig(dir, fake));
    await waitFor("the first job's final state", () => finished(fake.job(retried)), 60_000);
    expect(fake.job(retried).final?.state).toBe("success");
    expect(fake.artifacts.requests.filter((r) => r.method === "POST").map((r) => r.status)).toEqual([
      503, 503, 201,
    ]);

    fake.artifacts.maxBytes = 10;
    const tooLarge = fake.enqueue("runner-token", {
      script: ["head -c 4096 /dev/urandom > big.bin"],
      extra: {
        artifacts: [archiveArtifact("big", ["big.bin"])],
      },
    });
    await waitFor("the second job's final state", () => finished(fake.job(tooLarge)), 30_000);
    expect(fake.job(tooLarge).final?.state).toBe("failed");
    expect(fake.traceText(tooLarge)).toContain(
      'ERROR: Uploading artifacts as "archive" to coordinator... 413 Payload Too Large: 413 Request Entity Too Large',
    );
    expect(fake.artifacts.requests.filter((r) => r.method === "POST" && r.status === 413)).toHaveLength(1);
    daemon.kill("SIGTERM");
    await daemon.exited;
  }, 90_000);

  test("a hostile archive: entries leaving the project dir, or going through a link, are refused", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("runner-token");
    // Made with Info-ZIP: `../escaped.txt`, a link `out -> <dir>/outside`, then `out/planted.txt`.
    const outside = join(dir.path, "outside");
    mkdirSync(outside);
    const stage = join(dir.path, "stage");
    mkdirSync(join(stage, "inner"), { recursive: true });
    writeFileSync(join(stage, "escaped.txt"), "x");
    writeFileSync(join(stage, "inner", "fine.txt"), "fine");
    Bun.spawnSync(["ln", "-s", outside, join(stage, "inner", "out")]);
    const archive = join(dir.path, "evil.zip");
    const zip = (args: string[], cwd: string) => {
      const run = Bun.spawnSync(["zip", "-q", ...args], { cwd });
      if (run.exitCode !== 0) throw new Error(run.stderr.toString());
    };
    zip(["-y", archive, "fine.txt", "out"], join(stage, "inner"));
    zip([archive, "../escaped.txt"], join(stage, "inner"));
    mkdirSync(join(stage, "p", "out"), { recursive: true });
    writeFileSync(join(stage, "p", "out", "planted.txt"), "planted");
    zip([archive, "out/planted.txt"], join(stage, "p"));
    const source = fake.enqueue("runner-token", { script: ["true"] });
    fake.artifacts.uploads.set(source, [
      { filename: "evil.zip", format: "zip", type: "archive", expireIn: "", bytes: readFileSync(archive) },
    ]);
    const victim = fake.enqueue("runner-token", {
      script: ["cat fine.txt"],
      extra: {
        dependencies: [
          {
            id: source,
            name: "evil",
            token: fake.job(source).token,
            artifacts_file: { filename: "evil.zip", size: 1 },
          },
        ],
      },
    });
    await using daemon = startDaemon(dir, daemonConfig(dir, fake));
    await waitFor("the victim's final state", () => finished(fake.job(victim)), 30_000);
    const trace = fake.traceText(victim);
    expect(trace).toContain("WARNING: ../escaped.txt: leads outside the directory: not extracted");
    expect(trace).toMatch(/WARNING: out\/planted\.txt: \S+ is a symbolic link: not extracted/);
    expect(trace).toContain("\nfine");
    expect(existsSync(join(outside, "planted.txt"))).toBe(false);
    expect(existsSync(join(dir.path, "builds", "escaped.txt"))).toBe(false);
    daemon.kill("SIGTERM");
    await daemon.exited;
  });
});

describe("drover run: a hostile coordinator's redirects", () => {
  test("an upload redirected to itself is tried 3 times, not for ever; a download redirected to file:// is not followed", async () => {
    using dir = tempDir();
    await using fake = await FakeCoordinator.start();
    fake.acceptRunner("runner-token");
    const looping = fake.enqueue("runner-token", {
      script: ["echo x > a.txt"],
      extra: {
        artifacts: [archiveArtifact("a", ["a.txt"])],
      },
    });
    // Relative, as a Location may be: the same endpoint again.
    fake.artifacts.uploadRedirect = `/api/v4/jobs/${looping}/artifacts`;
    await using daemon = startDaemon(dir, daemonConfig(dir, fake));
    await waitFor("the looping job's final state", () => finished(fake.job(looping)), 30_000);
    expect(fake.job(looping).final?.state).toBe("failed");
    expect(fake.artifacts.requests.filter((r) => r.method === "POST").map((r) => r.status)).toEqual([
      307, 307, 307,
    ]);
    expect(fake.traceText(looping)).toContain("upload request redirected to http://127.0.0.1:");
    expect(fake.traceText(looping)).toContain("gave up after 3 attempts");

    // Another project's cache on this host, which `fetch` would read for a file:// URL.
    const planted = join(dir.path, "other-project-cache.zip");
    const stage = join(dir.path, "stage");
    mkdirSync(stage);
    writeFileSync(join(stage, "secret.txt"), "another project's");
    Bun.spawnSync(["zip", "-q", planted, "secret.txt"], { cwd: stage });
    const source = fake.enqueue("runner-token", { script: ["true"] });
    fake.artifacts.uploads.set(source, [
      { filename: "a.zip", format: "zip", type: "archive", expireIn: "", bytes: readFileSync(planted) },
    ]);
    fake.artifacts.downloadRedirect = `file://${planted}`;
    const reader = fake.enqueue("runner-token", {
      script: ["cat secret.txt"],
      extra: {
        dependencies: [
          {
            id: source,
            name: "src",
            token: fake.job(source).token,
            artifacts_file: { filename: "a.zip", size: 1 },
          },
        ],
      },
    });
    await waitFor("the reader's final state", () => finished(fake.job(reader)), 30_000);
    expect(fake.job(reader).final?.state).toBe("failed");
    expect(fake.traceText(reader)).toContain("a redirect to a file: URL, which drover does not follow");
    expect(fake.traceText(reader)).not.toContain("another project's");
    daemon.kill("SIGTERM");
    await daemon.exited;
  }, 60_000);
});

describe("drover exec: artifacts kept in a directory", () => {
  test("--artifacts-dir: one job's upload is the next job's dependency", async () => {
    using dir = tempDir();
    const config = shellRunnerConfig(dir, { builds_dir: join(dir.path, "builds") });
    const store = join(dir.path, "artifacts");
    const env = cleanEnv(dir.path);
    const build = dir.file(
      "build.json",
      jobJson({
        id: 7001,
        variables: [
          { key: "GIT_STRATEGY", value: "none" },
          { key: "CI_PROJECT_PATH", value: "g/build" },
        ],
        script: ["echo 'made by build' > result.txt"],
        artifacts: [archiveArtifact("result", ["result.txt"])],
      }),
    );
    const first = await drover(["exec", "--config", config, "--artifacts-dir", store, build], {
      cwd: dir.path,
      env,
    });
    expect(first.exitCode).toBe(0);
    expect(existsSync(join(store, "7001", "archive", "result.zip"))).toBe(true);
    const test = dir.file(
      "test.json",
      jobJson({
        id: 7002,
        variables: [
          { key: "GIT_STRATEGY", value: "none" },
          { key: "CI_PROJECT_PATH", value: "g/test" },
        ],
        script: ["cat result.txt"],
        dependencies: [{ id: 7001, name: "build", artifacts_file: { filename: "result.zip", size: 1 } }],
      }),
    );
    const second = await drover(["exec", "--config", config, "--artifacts-dir", store, test], {
      cwd: dir.path,
      env,
    });
    expect(second.stdout).toContain("Downloading artifacts for build (7001)...");
    expect(second.stdout).toContain("\nmade by build\n");
    expect(second.exitCode).toBe(0);
  });
});

describe("the helper stopped while it archives", () => {
  test("SIGTERM: the half-written cache.zip is removed, the helper ends 143", async () => {
    using dir = tempDir();
    const wd = join(dir.path, "project");
    mkdirSync(wd);
    // 1 GiB of zeros (sparse): seconds of deflating, long enough to be stopped in the middle.
    Bun.spawnSync(["truncate", "-s", "1G", join(wd, "big.bin")]);
    const cacheDir = join(dir.path, "cache", "k");
    await using helper = startDrover(
      ["cache-archiver", "--file", join(cacheDir, "cache.zip"), "--path", "big.bin"],
      { cwd: wd, env: cleanEnv(dir.path) },
    );
    const temporary = () =>
      existsSync(cacheDir) ? readdirSync(cacheDir).filter((f) => f.endsWith(".tmp")) : [];
    await waitFor("the temporary archive", () => temporary().length === 1, 30_000);
    helper.kill("SIGTERM");
    expect(await helper.exited).toBe(143);
    expect(readdirSync(cacheDir)).toEqual([]);
  });
});

describe("drover exec: an artifacts directory others could write to", () => {
  test.each([
    ["world-writable (a shared /tmp folder)", 0o1777, 0, "may be written by others (mode 1777)"],
    ["owned by another user", 0o700, 65534, "is owned by uid 65534, not by you (uid 0)"],
  ])("%s is refused before the job runs", async (_what, mode, owner, problem) => {
    using dir = tempDir();
    const store = join(dir.path, "shared");
    mkdirSync(store);
    chmodSync(store, mode);
    chownSync(store, owner, owner);
    const job = dir.file(
      "job.json",
      jobJson({
        id: 7003,
        variables: [{ key: "GIT_STRATEGY", value: "none" }],
        script: [`touch ${join(dir.path, "ran")}`],
      }),
    );
    const result = await drover(["exec", "--config", shellRunnerConfig(dir), "--artifacts-dir", store, job], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.exitCode).toBe(78);
    expect(result.stderr).toContain(`the artifacts directory ${JSON.stringify(store)} ${problem}`);
    expect(existsSync(join(dir.path, "ran"))).toBe(false);
  });
});

describe("the local cache: gitlab-runner's cache.zip", () => {
  const cacheJob = (
    dir: TempDir,
    id: number,
    key: string,
    script: string[],
    variables: Record<string, string> = {},
  ) =>
    dir.file(
      `job-${id}.json`,
      jobJson({
        id,
        variables: [
          { key: "GIT_STRATEGY", value: "none" },
          { key: "CI_PROJECT_PATH", value: "grp/proj" },
          ...Object.entries(variables).map(([k, v]) => ({ key: k, value: v })),
        ],
        script,
        cache: [{ key, paths: ["vendor/"], policy: "pull-push", when: "on_success", untracked: false }],
      }),
    );

  test("written as <cache_dir>/<project>/<key>/cache.zip, restored by the next job; a key with a slash stays a path", async () => {
    using dir = tempDir();
    const cacheDir = join(dir.path, "cache");
    const config = shellRunnerConfig(dir, { builds_dir: join(dir.path, "builds"), cache_dir: cacheDir });
    const env = cleanEnv(dir.path);
    const first = await drover(
      [
        "exec",
        "--config",
        config,
        cacheJob(dir, 1, "deps/main", ["mkdir -p vendor", "echo lib > vendor/lib.txt"]),
      ],
      { cwd: dir.path, env },
    );
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toContain(
      "Creating cache deps/main...\nvendor/: found 2 matching artifact files and directories\n",
    );
    expect(first.stdout).toContain("Created cache\n");
    const zip = join(cacheDir, "grp", "proj", "deps", "main", "cache.zip");
    expect(zipEntries(readFileSync(zip), dir)).toEqual(["vendor/", "vendor/lib.txt"]);
    const second = await drover(
      [
        "exec",
        "--config",
        config,
        cacheJob(dir, 2, "deps/main", ["rm -rf vendor"]),
        cacheJob(dir, 3, "deps/main", ["cat vendor/lib.txt"]),
      ],
      { cwd: dir.path, env },
    );
    expect(second.stdout).toContain("Checking cache for deps/main...");
    expect(second.stdout).toContain("Successfully extracted cache");
    expect(second.exitCode).toBe(0);
  });

  test("a cache.zip written by Go's archive/zip, as gitlab-runner writes it, is restored", async () => {
    using dir = tempDir();
    const cacheDir = join(dir.path, "cache");
    const target = join(cacheDir, "grp", "proj", "default", "cache.zip");
    mkdirSync(join(cacheDir, "grp", "proj", "default"), { recursive: true });
    const program = dir.file(
      "writezip.go",
      `package main

import (
	"archive/zip"
	"os"
	"time"
)

// As gitlab-runner's helpers/archives/zip_create.go: FileInfoHeader-like headers, deflate, a directory entry.
func main() {
	f, _ := os.Create(os.Args[1])
	w := zip.NewWriter(f)
	dir := &zip.FileHeader{Name: "vendor/", Method: zip.Store, Modified: time.Now()}
	dir.SetMode(os.ModeDir | 0o755)
	w.CreateHeader(dir)
	file := &zip.FileHeader{Name: "vendor/from-gitlab-runner.txt", Method: zip.Deflate, Modified: time.Now()}
	file.SetMode(0o640)
	out, _ := w.CreateHeader(file)
	out.Write([]byte("written by Go\\n"))
	w.Close()
	f.Close()
}
`,
    );
    const go = Bun.spawnSync(["go", "run", program, target], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: dir.path,
        GOCACHE: join(dir.path, "gocache"),
        GO111MODULE: "off",
      },
    });
    if (go.exitCode !== 0)
      throw new Error(`go (golang-go, installed by .ci/run) failed: ${go.stderr.toString()}`);
    const config = shellRunnerConfig(dir, { builds_dir: join(dir.path, "builds"), cache_dir: cacheDir });
    const result = await drover(
      [
        "exec",
        "--config",
        config,
        cacheJob(dir, 4, "default", [
          "cat vendor/from-gitlab-runner.txt",
          "stat -c %a vendor/from-gitlab-runner.txt",
        ]),
      ],
      { cwd: dir.path, env: cleanEnv(dir.path) },
    );
    expect(result.stdout).toContain("Successfully extracted cache");
    expect(result.stdout).toContain("\nwritten by Go\n");
    expect(result.stdout).toContain("\n640\n");
    expect(result.exitCode).toBe(0);
  });

  test("FF_HASH_CACHE_KEYS: the key's SHA-256 names the directory", async () => {
    using dir = tempDir();
    const cacheDir = join(dir.path, "cache");
    const config = shellRunnerConfig(dir, { builds_dir: join(dir.path, "builds"), cache_dir: cacheDir });
    const result = await drover(
      [
        "exec",
        "--config",
        config,
        cacheJob(dir, 5, "k", ["mkdir -p vendor", "echo x > vendor/x"], { FF_HASH_CACHE_KEYS: "true" }),
      ],
      { cwd: dir.path, env: cleanEnv(dir.path) },
    );
    expect(result.exitCode).toBe(0);
    const hashed = new Bun.CryptoHasher("sha256").update("k").digest("hex");
    expect(existsSync(join(cacheDir, "grp", "proj", hashed, "cache.zip"))).toBe(true);
  });

  test("a distributed cache in config.toml is refused by config check, naming the key", async () => {
    using dir = tempDir();
    const config = dir.file(
      "config.toml",
      '[[runners]]\n  name = "s"\n  executor = "shell"\n  [runners.cache]\n    Type = "s3"\n    [runners.cache.s3]\n      ServerAddress = "minio:9000"\n',
    );
    const result = await drover(["config", "check", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.exitCode).toBe(78);
    expect(result.stdout).toContain(
      'runners[0] ("s").cache.Type: a distributed cache ("s3") is not supported: drover keeps caches on this host, in cache_dir',
    );
  });
});
