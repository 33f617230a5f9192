// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are shell scripts
/**
 * Attacks through a job's variables on the host code around it (docs/security.md, "Hooks"): a job
 * whose own script does nothing tries to make a job_started hook run its code, write where it
 * chooses, delete a host directory, or read its secrets. Each attack is performed against
 * dist/drover with a hook an administrator could well have written; none may succeed.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, drover, ensureBuilt, jobJson, type TempDir, tempDir } from "../../harness.ts";

ensureBuilt();

const TOKEN = "job-token-xyz";
const SECRET = "s3cret-Deploy-Key-value";

/** Runs `job` with `hook` as the job_started hook (and `top` more config); the result and what the hook saw. */
async function withHook(dir: TempDir, hook: string, variables: Array<Record<string, unknown>>, top = "") {
  const script = dir.file("hook.sh", hook);
  const config = dir.file(
    "config.toml",
    `[hooks]\n  job_started = "${script}"\n${top}\n[[runners]]\n  name = "shell"\n  builds_dir = "${dir.path}/builds"\n`,
  );
  const job = dir.file(
    "job.json",
    jobJson({
      variables: [
        { key: "GIT_STRATEGY", value: "none" },
        { key: "CI_PROJECT_PATH", value: "group/proj" },
        ...variables,
      ],
      script: ["true"],
    }),
  );
  return drover(["exec", "--config", config, job], { cwd: dir.path, env: cleanEnv(dir.path) });
}

describe("a project's variables do not run code in a hook", () => {
  test("GIT_CONFIG_* with core.fsmonitor, through a hook that runs git status", async () => {
    using dir = tempDir();
    const pwned = join(dir.path, "pwned-git");
    const repo = join(dir.path, "host-repo");
    mkdirSync(repo);
    Bun.spawnSync(["git", "init", "-q", repo]);
    const result = await withHook(dir, `cd ${repo} && git status --short >/dev/null\necho hook ran git\n`, [
      { key: "GIT_CONFIG_COUNT", value: "1" },
      { key: "GIT_CONFIG_KEY_0", value: "core.fsmonitor" },
      { key: "GIT_CONFIG_VALUE_0", value: `touch ${pwned}; false` },
    ]);
    expect(result.stdout).toContain("hook ran git");
    expect(result.exitCode).toBe(0);
    expect(existsSync(pwned)).toBe(false);
  });

  test("PERL5OPT=-d with PERL5DB, through a hook that runs perl", async () => {
    using dir = tempDir();
    const pwned = join(dir.path, "pwned-perl");
    const result = await withHook(dir, 'perl -e "print qq(hook ran perl\\n)"\n', [
      { key: "PERL5OPT", value: "-d" },
      { key: "PERL5DB", value: `BEGIN { system("touch ${pwned}") }` },
    ]);
    expect(result.stdout).toContain("hook ran perl");
    expect(existsSync(pwned)).toBe(false);
  });

  test("PYTHONWARNINGS naming antigravity with BROWSER, through a hook that runs python3", async () => {
    using dir = tempDir();
    const pwned = join(dir.path, "pwned-python");
    const result = await withHook(dir, "/usr/bin/python3 -c \"print('hook ran python')\"\n", [
      { key: "PYTHONWARNINGS", value: "ignore::antigravity.Foo" },
      { key: "BROWSER", value: `sh -c 'touch ${pwned}' #%s` },
    ]);
    expect(result.stdout).toContain("hook ran python");
    expect(existsSync(pwned)).toBe(false);
  });

  test("LD_DEBUG_OUTPUT does not make a hook's programs write where the job chose", async () => {
    using dir = tempDir();
    const chosen = join(dir.path, "ld-debug");
    // Counted by the hook itself, right after its program ran: no stage of the job has run yet (the
    // job's own processes may write there: the job chose it for itself).
    const result = await withHook(
      dir,
      `/bin/true\necho "ld-debug files: $(ls ${chosen}.* 2>/dev/null | wc -l)"\n`,
      [
        { key: "LD_DEBUG", value: "all" },
        { key: "LD_DEBUG_OUTPUT", value: chosen },
      ],
    );
    expect(result.stdout).toContain("ld-debug files: 0");
  });
});

describe("a project's variables do not steer a hook", () => {
  test("GITHUB_WORKSPACE / CI_PROJECT_DIR pointing at a host directory: a cleaning hook empties the job's own", async () => {
    using dir = tempDir();
    const precious = join(dir.path, "precious");
    mkdirSync(precious);
    writeFileSync(join(precious, "keep.txt"), "keep me");
    const result = await withHook(dir, 'echo "cleaning $GITHUB_WORKSPACE"\nrm -rf "$GITHUB_WORKSPACE"/*\n', [
      { key: "GITHUB_WORKSPACE", value: precious },
      { key: "CI_PROJECT_DIR", value: precious },
    ]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`cleaning ${dir.path}/builds/(local/0/)?group/proj\n`));
    expect(readFileSync(join(precious, "keep.txt"), "utf8")).toBe("keep me");
  });
});

describe("a hook gets no secret", () => {
  test("no masked value, no job token, no raw job JSON: not in its environment, its event file or its job file", async () => {
    using dir = tempDir();
    const seen = join(dir.path, "seen.txt");
    const result = await withHook(
      dir,
      `{ env; cat "$GITHUB_EVENT_PATH" "$DROVER_JOB_PATH"; } > ${seen}\njq -r .repository.full_name "$GITHUB_EVENT_PATH" 2>/dev/null || grep -o '"full_name":"[^"]*"' "$GITHUB_EVENT_PATH"\n`,
      [
        { key: "DEPLOY_KEY", value: SECRET, masked: true },
        { key: "SECRET_FILE", value: `${SECRET}-file`, masked: true, file: true },
        { key: "PLAIN_PROJECT_VAR", value: "visible-only-if-listed" },
      ],
    );
    expect(result.exitCode).toBe(0);
    const text = readFileSync(seen, "utf8");
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain("visible-only-if-listed");
    expect(text).not.toContain("CI_JOB_TOKEN");
    // What a hook does get: drover's own values, and a GitHub-shaped event.
    expect(text).toContain("CI_PROJECT_PATH=group/proj");
    expect(text).toContain("GITHUB_REPOSITORY=group/proj");
    expect(result.stdout).toContain("group/proj");
  });

  test("[hooks] pass_variables: a named project variable reaches the hook, a masked one never does", async () => {
    using dir = tempDir();
    const result = await withHook(
      dir,
      'echo "env=$DEPLOY_ENV key=${DEPLOY_KEY:-unset}"\n',
      [
        { key: "DEPLOY_ENV", value: "staging" },
        { key: "DEPLOY_KEY", value: SECRET, masked: true },
      ],
      '  pass_variables = ["DEPLOY_ENV", "DEPLOY_KEY"]',
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("env=staging key=unset");
  });

  test("pass_variables cannot name what drover sets or what changes how programs run", async () => {
    using dir = tempDir();
    const config = dir.file(
      "config.toml",
      '[hooks]\n  pass_variables = ["PATH", "GITHUB_WORKSPACE", "GIT_CONFIG_COUNT", "PERL5OPT", "OK_NAME"]\n',
    );
    const result = await drover(["config", "check", "--config", config], {
      cwd: dir.path,
      env: cleanEnv(dir.path),
    });
    expect(result.exitCode).toBe(78);
    for (const [i, name] of ["PATH", "GITHUB_WORKSPACE", "GIT_CONFIG_COUNT", "PERL5OPT"].entries()) {
      expect(result.stdout).toContain(`hooks.pass_variables[${i}]: ${name} cannot be passed to hooks`);
    }
    expect(result.stdout).not.toContain("OK_NAME");
  });
});
