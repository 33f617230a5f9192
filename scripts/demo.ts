/**
 * `npm run demo` (after `bun scripts/build.ts`): runs one real job three times, through the built-in
 * shell executor, through the external sandbox executor plugin (examples/sandbox-executor) and through
 * the built-in custom executor driving the example GitLab driver set (examples/custom-driver), and
 * checks what a user would check by eye.
 *
 * In a fresh temp dir: a git repository with two commits, the job (examples/demo/job.json, pinned to
 * the first commit) and the config (examples/demo/config.toml) with this machine's paths filled in.
 * Then `drover exec --config <cfg> --runner local-shell job.json` and the same with `--runner sandbox`
 * and `--runner custom-driver`, every log streamed to the terminal. Fails (exit 1, with the reasons)
 * unless every job exits 0, shows the pinned commit, the file variable and after_script, and never
 * shows the masked secret in clear, and unless the custom driver's script output is the shell
 * runner's. The temp dir is removed on every path.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, DROVER, ROOT } from "./paths.ts";

const SANDBOX_SOURCE = join(ROOT, "examples", "sandbox-executor", "main.ts");
const SANDBOX = join(ROOT, "dist", "examples", "sandbox-executor");
const CUSTOM_DRIVER = join(ROOT, "examples", "custom-driver");
const TEMPLATES = join(ROOT, "examples", "demo");
const RUNNERS = ["local-shell", "sandbox", "custom-driver"] as const;

const FIRST_TEXT = "Hello from the first commit";
const SECOND_TEXT = "Hello from the second commit";

/** A failure the demo explains itself: printed without a stack trace. */
class DemoError extends Error {}

interface JobTemplate {
  git_info: { repo_url: string; sha: string };
  variables: Array<{ key: string; value: string; masked?: boolean }>;
  steps: Array<{ name: string; script: string[] }>;
}

interface Run {
  runner: (typeof RUNNERS)[number];
  exitCode: number;
  problems: string[];
}

async function main(dir: string): Promise<Run[]> {
  if (!existsSync(DROVER)) throw new DemoError(`${DROVER} is missing: run \`npm run build\` first`);
  const home = join(dir, "home");
  mkdirSync(home);
  // What drover and git see: no user config, no npm_* variables, nothing from this shell's setup.
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local", "share"),
    LANG: "C.UTF-8",
  };

  banner("setting up");
  compileSandbox();
  const repo = join(dir, "repo");
  const [first, second] = makeRepository(repo, env);
  say(`git repository ${repo}: main is at ${short(second)}; the job pins the first commit ${short(first)}`);

  const job: JobTemplate = JSON.parse(readFileSync(join(TEMPLATES, "job.json"), "utf8"));
  job.git_info.repo_url = repo;
  job.git_info.sha = first;
  const secret = job.variables.find((v) => v.masked)?.value;
  if (!secret) throw new DemoError("examples/demo/job.json has no masked variable");
  const firstCommand = job.steps.find((step) => step.name === "script")?.script[0];
  if (!firstCommand) throw new DemoError("examples/demo/job.json has no script step");
  const jobFile = join(dir, "job.json");
  writeFileSync(jobFile, `${JSON.stringify(job, null, 2)}\n`);

  const configFile = join(dir, "config.toml");
  writeFileSync(
    configFile,
    readFileSync(join(TEMPLATES, "config.toml"), "utf8")
      .replaceAll("@DEMO_DIR@", tomlPath(dir))
      .replaceAll("@SANDBOX_EXECUTOR@", tomlPath(SANDBOX))
      .replaceAll("@CUSTOM_DRIVER@", tomlPath(CUSTOM_DRIVER)),
  );
  say(`job ${jobFile}, config ${configFile}`);
  const check = Bun.spawnSync([DROVER, "config", "check", "--config", configFile], { env, cwd: dir });
  process.stdout.write(check.stdout);
  process.stderr.write(check.stderr);
  if (check.exitCode !== 0) throw new DemoError(`drover config check exited ${check.exitCode}`);

  // The example driver keeps its jobs under $DRIVER_BASE_DIR, read from drover's own environment
  // (every driver call inherits it); the runner's `environment` would only reach it as CUSTOM_ENV_*.
  const driverBase = join(dir, "custom-driver");
  const runs: Run[] = [];
  const shellOutput: { lines?: string[] } = {};
  for (const runner of RUNNERS) {
    banner(`drover exec --config config.toml --runner ${runner} job.json`);
    if (runner === "custom-driver") say(`with DRIVER_BASE_DIR=${driverBase} in drover's environment`);
    const { exitCode, stdout, stderr } = await streamDrover(
      ["exec", "--config", configFile, "--runner", runner, jobFile],
      { env: runner === "custom-driver" ? { ...env, DRIVER_BASE_DIR: driverBase } : env, cwd: dir },
    );
    const problems: string[] = [];
    const expect = (ok: boolean, problem: string) => ok || problems.push(problem);
    expect(exitCode === 0, `exit status ${exitCode}, expected 0`);
    expect(!stdout.includes(secret) && !stderr.includes(secret), "the masked secret appears in clear");
    // What the job printed is only worth checking when it ran to the end.
    if (exitCode === 0) {
      expect(stdout.includes("the secret is [MASKED]"), 'no "the secret is [MASKED]" line');
      expect(
        stdout.includes(FIRST_TEXT) && !stdout.includes(SECOND_TEXT),
        "hello.txt is not the first commit's",
      );
      expect(stdout.includes(`checked out ${first}`), `commit ${short(first)} is not the one checked out`);
      expect(stdout.includes('region = "eu-west"'), "the file variable's content is missing");
      expect(
        stdout.includes("after_script: CI_JOB_STATUS=success"),
        "after_script did not print CI_JOB_STATUS=success",
      );
    }
    if (runner === "sandbox") {
      const base = join(dir, "sandbox");
      if (exitCode === 0)
        expect(stdout.includes(`HOME=${base}/job-`), "the job did not run with the sandbox's private HOME");
      // Cleanup runs whatever happened to the job.
      expect(
        !existsSync(base) || readdirSync(base).length === 0,
        `the sandbox did not remove its job directory from ${base}`,
      );
    }
    if (runner === "local-shell" && exitCode === 0)
      shellOutput.lines = scriptOutput(stdout, firstCommand, dir);
    if (runner === "custom-driver") {
      if (exitCode === 0) {
        expect(
          stdout.includes(`working in ${driverBase}/jobs/job-`),
          "the job did not run in the driver's job directory",
        );
        // Lines that name a directory differ by design (each executor has its own); the rest, the
        // job's own output, must be the shell runner's line for line.
        const lines = scriptOutput(stdout, firstCommand, dir);
        if (shellOutput.lines === undefined)
          problems.push("no script output of the local-shell run to compare with");
        else {
          const difference = firstDifference(shellOutput.lines, lines);
          if (difference) problems.push(`script output differs from local-shell's: ${difference}`);
        }
      }
      // cleanup_exec runs whatever happened to the job, and removes the job's directory.
      const jobs = join(driverBase, "jobs");
      expect(
        !existsSync(jobs) || readdirSync(jobs).length === 0,
        `cleanup.sh did not remove the job directory from ${jobs}`,
      );
    }
    runs.push({ runner, exitCode, problems });
  }
  return runs;
}

/**
 * What the job's script printed: the log lines from the echo of its first command (`$ cmd`) up to
 * the after_script section, without the lines that name a path under the demo dir (each executor
 * has its own directories) and without the section's result line (it carries a duration).
 */
function scriptOutput(stdout: string, firstCommand: string, dir: string): string[] {
  const lines = stdout.split("\n");
  const start = lines.indexOf(`$ ${firstCommand}`);
  if (start === -1) return [];
  const end = lines.indexOf("Running after_script", start);
  return lines
    .slice(start, end === -1 ? lines.length : end)
    .filter((line) => !line.includes(dir) && !/^[✓✗] build_script /.test(line));
}

/** Where two outputs first differ, for the summary; undefined when they are the same. */
function firstDifference(expected: string[], actual: string[]): string | undefined {
  if (expected.length === 0) return "the local-shell run printed no script output";
  for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
    if (expected[i] !== actual[i])
      return `line ${i + 1} is ${JSON.stringify(actual[i] ?? "(missing)")}, expected ${JSON.stringify(expected[i] ?? "(nothing)")}`;
  }
  return undefined;
}

/** The sandbox executor as one executable, like an administrator would install it. */
function compileSandbox(): void {
  const started = performance.now();
  const args = [
    "build",
    "--compile",
    // Like scripts/build.ts: a plugin must not pick up a .env or bunfig.toml from drover's cwd.
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    SANDBOX_SOURCE,
    "--outfile",
    SANDBOX,
  ];
  const result = Bun.spawnSync([BUN, ...args], { cwd: ROOT });
  if (result.exitCode !== 0) {
    process.stderr.write(result.stdout);
    process.stderr.write(result.stderr);
    throw new DemoError(`compiling the sandbox executor failed: bun ${args.join(" ")}`);
  }
  say(`compiled ${SANDBOX} in ${Math.round(performance.now() - started)} ms`);
}

/** A repository with two commits on `main`; returns both shas, oldest first. */
function makeRepository(repo: string, env: Record<string, string>): [string, string] {
  mkdirSync(repo);
  const gitEnv = {
    ...env,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_AUTHOR_NAME: "drover demo",
    GIT_AUTHOR_EMAIL: "demo@drover.invalid",
    GIT_COMMITTER_NAME: "drover demo",
    GIT_COMMITTER_EMAIL: "demo@drover.invalid",
  };
  const git = (...args: string[]): string => {
    let result: { exitCode: number; stdout: Buffer; stderr: Buffer };
    try {
      result = Bun.spawnSync(["git", ...args], { cwd: repo, env: gitEnv, stdout: "pipe", stderr: "pipe" });
    } catch (err) {
      throw new DemoError(`cannot run git (the demo needs git on PATH): ${(err as Error).message}`);
    }
    if (result.exitCode !== 0)
      throw new DemoError(
        `git ${args.join(" ")} exited ${result.exitCode}: ${result.stderr.toString().trim()}`,
      );
    return result.stdout.toString().trim();
  };
  git("init", "-q");
  // Not `init -b`: it needs git 2.28.
  git("symbolic-ref", "HEAD", "refs/heads/main");
  writeFileSync(join(repo, "hello.txt"), `${FIRST_TEXT}\n`);
  git("add", "hello.txt");
  git("commit", "-q", "-m", "first commit");
  const first = git("rev-parse", "HEAD");
  writeFileSync(join(repo, "hello.txt"), `${SECOND_TEXT}\n`);
  git("commit", "-q", "-a", "-m", "second commit");
  return [first, git("rev-parse", "HEAD")];
}

/** Runs drover, copying its stdout and stderr to ours as they come, and returns them as well. */
async function streamDrover(args: string[], options: { env: Record<string, string>; cwd: string }) {
  const proc = Bun.spawn([DROVER, ...args], { ...options, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const copy = async (from: ReadableStream<Uint8Array>, to: NodeJS.WriteStream): Promise<string> => {
    const decoder = new TextDecoder();
    let text = "";
    for await (const chunk of from) {
      to.write(chunk);
      text += decoder.decode(chunk, { stream: true });
    }
    return text + decoder.decode();
  };
  const [stdout, stderr, exitCode] = await Promise.all([
    copy(proc.stdout, process.stdout),
    copy(proc.stderr, process.stderr),
    proc.exited,
  ]);
  return { stdout, stderr, exitCode };
}

/** A path inside a TOML basic string; the demo's paths never need escaping, but check. */
function tomlPath(path: string): string {
  if (/["\\\n]/.test(path)) throw new DemoError(`cannot put ${JSON.stringify(path)} into config.toml`);
  return path;
}

function banner(title: string): void {
  const rule = "=".repeat(Math.max(20, title.length + 6));
  process.stdout.write(`\n${rule}\n== ${title}\n${rule}\n`);
}

function say(line: string): void {
  process.stdout.write(`demo: ${line}\n`);
}

function short(sha: string): string {
  return sha.slice(0, 8);
}

// Ctrl-C reaches drover too (same process group): it cancels the job, exits 3, and the demo then
// reports that and removes its temp dir instead of dying half-way.
process.on("SIGINT", () => {});

const dir = mkdtempSync(join(tmpdir(), "drover-demo-"));
let status = 1;
try {
  const runs = await main(dir);
  banner("summary");
  for (const run of runs) {
    const verdict = run.problems.length ? `FAILED: ${run.problems.join("; ")}` : "ok";
    process.stdout.write(`  ${run.runner.padEnd(14)} exit ${run.exitCode}  ${verdict}\n`);
  }
  if (runs.every((run) => run.problems.length === 0)) {
    process.stdout.write(
      "demo OK: the same job ran through the built-in shell executor, the sandbox plugin and the\n" +
        "         custom executor with the example driver set; pinned commit checked out, file\n" +
        "         variable written, secret masked, after_script ran, custom output = shell output\n",
    );
    status = 0;
  } else {
    process.stderr.write("demo FAILED: see the lines above\n");
  }
} catch (err) {
  process.stderr.write(
    `demo FAILED: ${err instanceof DemoError ? err.message : ((err as Error).stack ?? String(err))}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(status);
