import { describe, expect, test } from "bun:test";
import {
  type CheckResult,
  type ConfigProblem,
  checkConfigText,
  formatProblem,
} from "../../src/config/index.ts";

const file = "config.toml";

/** The problems of `text` as the lines `drover config check` prints. */
function problemsOf(text: string): string[] {
  return checkConfigText(text, file).problems.map(formatProblem);
}

describe("a GitLab Runner config.toml (shell and custom runners)", () => {
  const text = `concurrent = 4
check_interval = 0
log_level = "warning"
log_format = "json"
shutdown_timeout = 0
connection_max_age = "15m0s"

[session_server]
  session_timeout = 1800

[[runners]]
  name = "shell-1"
  url = "https://gitlab.example.com"
  id = 42
  token = "glrt-abc"
  token_obtained_at = 2024-01-02T03:04:05Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "shell"
  shell = "bash"
  clone_url = "https://mirror.example.com"
  [runners.cache]
    MaxUploadedArchiveSize = 0
  [runners.feature_flags]
    FF_USE_FASTZIP = true

[[runners]]
  name = "lxd"
  executor = "custom"
  builds_dir = "/builds"
  cache_dir = "/cache"
  environment = ["FOO=bar", "EMPTY=", "EQ=a=b"]
  limit = 2
  request_concurrency = 0
  output_limit = 8192
  [runners.custom]
    config_exec = "/opt/lxd/config.sh"
    config_args = ["--verbose"]
    config_exec_timeout = 0
    prepare_exec = "/opt/lxd/prepare.sh"
    prepare_exec_timeout = -5
    run_exec = "/opt/lxd/run.sh"
    run_args = ["run"]
    cleanup_exec = ""
    cleanup_exec_timeout = 60
    graceful_kill_timeout = 30
    force_kill_timeout = 0
    poll_interval = 3
`;
  const result = checkConfigText(text, file);

  test("is accepted, with a warning for each key drover does not know", () => {
    const warning = (line: number, keyPath: string): ConfigProblem => ({
      severity: "warning",
      file,
      line,
      keyPath,
      message: "unknown key, ignored",
    });
    expect(result.problems).toEqual([
      warning(6, "connection_max_age"),
      warning(47, 'runners[1] ("lxd").custom.poll_interval'),
    ]);
  });

  test("gives the typed config, GitLab's defaults filled in", () => {
    expect(result.config).toEqual({
      concurrent: 4,
      logLevel: "warn",
      logFormat: "json",
      pluginHandshakeTimeoutMs: 10_000,
      checkIntervalSeconds: 3,
      shutdownTimeoutSeconds: 30,
      listenAddress: undefined,
      pluginRegistry: "https://registry.npmjs.org/",
      runners: [
        {
          name: "shell-1",
          executor: "shell",
          url: "https://gitlab.example.com",
          token: "glrt-abc",
          // token_expires_at = 0001-01-01T00:00:00Z is GitLab Runner's "never": no key.
          tokenObtainedAt: new Date("2024-01-02T03:04:05Z"),
          shell: "bash",
          limit: 0,
          environment: [],
          requestConcurrency: 1,
          outputLimitBytes: 4096 * 1024,
          unhealthyRequestsLimit: 3,
          unhealthyIntervalMs: 60_000,
          finalUpdateRetryLimit: 10,
          id: 42,
          featureFlags: { FF_USE_FASTZIP: true },
          scripts: {},
          cloneUrl: "https://mirror.example.com",
          line: 11,
        },
        {
          name: "lxd",
          executor: "custom",
          buildsDir: "/builds",
          cacheDir: "/cache",
          limit: 2,
          environment: [
            { key: "FOO", value: "bar" },
            { key: "EMPTY", value: "" },
            { key: "EQ", value: "a=b" },
          ],
          requestConcurrency: 1,
          outputLimitBytes: 8192 * 1024,
          unhealthyRequestsLimit: 3,
          unhealthyIntervalMs: 60_000,
          finalUpdateRetryLimit: 10,
          featureFlags: {},
          scripts: {},
          line: 26,
          // As written: the custom executor plugin reads it (test/unit/custom-settings.test.ts).
          settings: {
            config_exec: "/opt/lxd/config.sh",
            config_args: ["--verbose"],
            config_exec_timeout: 0,
            prepare_exec: "/opt/lxd/prepare.sh",
            prepare_exec_timeout: -5,
            run_exec: "/opt/lxd/run.sh",
            run_args: ["run"],
            cleanup_exec: "",
            cleanup_exec_timeout: 60,
            graceful_kill_timeout: 30,
            force_kill_timeout: 0,
            poll_interval: 3,
          },
        },
      ],
      hooks: { jobStarted: [], jobCompleted: [], plugins: [], passVariables: [] },
      source: file,
    });
  });
});

describe("defaults", () => {
  test("an empty file: one default shell runner, source set", () => {
    const { config, problems } = checkConfigText("", file);
    expect(problems).toEqual([]);
    expect(config?.runners.map((r) => [r.name, r.executor, r.line])).toEqual([["default", "shell", 0]]);
    expect(config?.source).toBe(file);
  });
  test("a runner without name or executor: runner-<index>, shell", () => {
    const { config } = checkConfigText('[[runners]]\nname = "a"\n[[runners]]\nlimit = 1\n', undefined);
    expect(config?.runners.map((r) => [r.name, r.executor, r.limit, r.line])).toEqual([
      ["a", "shell", 0, 1],
      ["runner-1", "shell", 1, 3],
    ]);
  });
  test("plugin_handshake_timeout in seconds, fractions allowed", () => {
    expect(checkConfigText("plugin_handshake_timeout = 2.5", file).config?.pluginHandshakeTimeoutMs).toBe(
      2500,
    );
  });
});

describe("plugin runners and hooks", () => {
  const text = `[[runners]]
  name = "vm"
  executor = "plugin"
  [runners.plugin]
    name = "firecracker"
    version = "^1.2"
    [runners.plugin.settings]
    vcpus = 2
    kernel = { path = "/k", args = ["quiet"] }
[[runners]]
  name = "dev"
  executor = "plugin"
  plugin = { path = "/opt/plugins/dev" }
[hooks]
  job_started = "/opt/hooks/start.sh"
  job_completed = ["/opt/hooks/a.sh", { path = "/opt/hooks/b.ps1", timeout = 30 }]
  [[hooks.plugins]]
    name = "telemetry"
    [hooks.plugins.settings]
    endpoint = "https://otel.example.com"
  [[hooks.plugins]]
    path = "/opt/policy"
`;
  const { config, problems } = checkConfigText(text, file);
  test("no problems", () => expect(problems).toEqual([]));
  test("plugin refs and opaque settings", () => {
    expect(
      config?.runners.map((r) =>
        r.executor === "plugin" ? { name: r.name, plugin: r.plugin, settings: r.settings } : r,
      ),
    ).toEqual([
      {
        name: "vm",
        plugin: { kind: "installed", name: "firecracker", version: "^1.2" },
        settings: { vcpus: 2, kernel: { path: "/k", args: ["quiet"] } },
      },
      { name: "dev", plugin: { kind: "path", path: "/opt/plugins/dev" }, settings: {} },
    ]);
  });
  test("hooks", () => {
    expect(config?.hooks).toEqual({
      jobStarted: [{ path: "/opt/hooks/start.sh" }],
      jobCompleted: [{ path: "/opt/hooks/a.sh" }, { path: "/opt/hooks/b.ps1", timeoutSeconds: 30 }],
      plugins: [
        { ref: { kind: "installed", name: "telemetry" }, settings: { endpoint: "https://otel.example.com" } },
        { ref: { kind: "path", path: "/opt/policy" }, settings: {} },
      ],
      passVariables: [],
    });
  });
});

describe("errors, each with its line and key path", () => {
  const cases: Array<[string, string, string[]]> = [
    [
      "unknown executor",
      '[[runners]]\nname = "d"\nexecutor = "docker"\n',
      [
        'config.toml:3: runners[0] ("d").executor: unknown executor "docker": drover supports shell, custom and plugin',
      ],
    ],
    [
      "custom executor without [runners.custom]",
      '\n[[runners]]\n  name = "lxd"\n  executor = "custom"\n',
      ['config.toml:2: runners[0] ("lxd").custom: custom executor not configured'],
    ],
    [
      "custom executor without run_exec",
      '[[runners]]\nexecutor = "custom"\n[runners.custom]\nconfig_exec = "/c"\n',
      ["config.toml:3: runners[0].custom.run_exec: custom executor is missing RunExec"],
    ],
    [
      "custom executor with an empty run_exec",
      '[[runners]]\nexecutor = "custom"\n[runners.custom]\nrun_exec = ""\n',
      ["config.toml:4: runners[0].custom.run_exec: custom executor is missing RunExec"],
    ],
    [
      "run_exec of the wrong type",
      '[[runners]]\nexecutor = "custom"\n[runners.custom]\nrun_exec = 3\n',
      ["config.toml:4: runners[0].custom.run_exec: expected a string, got integer 3"],
    ],
    [
      "args that are not arrays of strings",
      '[[runners]]\nexecutor = "custom"\n[runners.custom]\nrun_exec = "/r"\nrun_args = "x"\nprepare_args = ["a",\n  2]\n',
      [
        'config.toml:5: runners[0].custom.run_args: expected an array of strings, got string "x"',
        "config.toml:7: runners[0].custom.prepare_args[1]: expected a string, got integer 2",
      ],
    ],
    [
      "a float where GitLab has an integer",
      '[[runners]]\nexecutor = "custom"\n[runners.custom]\nrun_exec = "/r"\nforce_kill_timeout = 1.5\n',
      ["config.toml:5: runners[0].custom.force_kill_timeout: expected an integer, got float 1.5"],
    ],
    [
      "negative concurrent and limit",
      "concurrent = -1\n[[runners]]\nlimit = -2\n",
      [
        "config.toml:1: concurrent: expected a positive integer, got integer -1",
        "config.toml:3: runners[0].limit: expected a non-negative integer, got integer -2",
      ],
    ],
    [
      "concurrent = 0 would run nothing",
      "concurrent = 0\n",
      ["config.toml:1: concurrent: expected a positive integer, got integer 0"],
    ],
    [
      "duplicate runner names, on the second",
      '[[runners]]\nname = "a"\n[[runners]]\nname = "b"\n[[runners]]\nname = "a"\n',
      ['config.toml:6: runners[2] ("a").name: duplicate runner name "a": also used by runners[0] on line 1'],
    ],
    [
      "environment entries that are not KEY=VALUE",
      '[[runners]]\nenvironment = [\n  "OK=1",\n  "BAD",\n  "=x",\n]\n',
      [
        'config.toml:4: runners[0].environment[1]: expected "KEY=VALUE", got "BAD"',
        'config.toml:5: runners[0].environment[2]: expected "KEY=VALUE", got "=x"',
      ],
    ],
    [
      "plugin executor without [runners.plugin]",
      '[[runners]]\nexecutor = "plugin"\n',
      ["config.toml:1: runners[0].plugin: plugin executor not configured"],
    ],
    [
      "plugin with neither name nor path",
      '[[runners]]\nexecutor = "plugin"\n[runners.plugin]\nsettings = {}\n',
      ["config.toml:3: runners[0].plugin: expected name (an installed plugin) or path (a plugin executable)"],
    ],
    [
      "plugin with both name and path",
      '[[runners]]\nexecutor = "plugin"\n[runners.plugin]\nname = "x"\npath = "/x"\n',
      [
        "config.toml:5: runners[0].plugin.path: set either name (an installed plugin) or path (a plugin executable), not both",
      ],
    ],
    [
      "relative plugin path",
      '[[runners]]\nexecutor = "plugin"\n[runners.plugin]\npath = "bin/p"\n',
      ['config.toml:4: runners[0].plugin.path: plugin path must be absolute, got "bin/p"'],
    ],
    [
      "bad version range and plugin name",
      '[[runners]]\nexecutor = "plugin"\n[runners.plugin]\nname = "../x"\nversion = "latest"\n',
      [
        'config.toml:4: runners[0].plugin.name: expected a plugin name (letters, digits, ".", "_", "-"), got "../x"',
        'config.toml:5: runners[0].plugin.version: expected a semver range like "^1.2", got "latest"',
      ],
    ],
    [
      "version with a path",
      '[[runners]]\nexecutor = "plugin"\n[runners.plugin]\npath = "/p"\nversion = "1"\n',
      [
        "config.toml:5: runners[0].plugin.version: version applies to an installed plugin (name), not to path",
      ],
    ],
    [
      "relative hook paths and bad hook entries",
      '[hooks]\njob_started = "start.sh"\njob_completed = [\n  "/ok.sh",\n  { path = "done.sh" },\n  { timeout = 5 },\n  { path = "/t.sh", timeout = 0 },\n  7,\n]\n',
      [
        'config.toml:2: hooks.job_started: hook path must be absolute, got "start.sh"',
        'config.toml:5: hooks.job_completed[1].path: hook path must be absolute, got "done.sh"',
        'config.toml:6: hooks.job_completed[2].path: missing required key "path"',
        "config.toml:7: hooks.job_completed[3].timeout: expected a positive number of seconds, got integer 0",
        'config.toml:8: hooks.job_completed[4]: expected a path or { path = "...", timeout = seconds }, got integer 7',
      ],
    ],
    [
      "hook plugins",
      '[hooks]\nplugins = "x"\n',
      ['config.toml:2: hooks.plugins: expected an array of tables ([[hooks.plugins]]), got string "x"'],
    ],
    [
      "[runners] as a table",
      '[runners]\nname = "x"\n',
      ["config.toml:1: runners: expected an array of tables ([[runners]]), got table"],
    ],
    [
      "log level, url",
      'log_level = "verbose"\n[[runners]]\nurl = "gitlab.example.com"\n',
      [
        'config.toml:1: log_level: unknown log level "verbose": expected trace, debug, info, warn, error or fatal',
        'config.toml:3: runners[0].url: expected an http(s) URL, got "gitlab.example.com"',
      ],
    ],
    [
      "an integer too large for a plugin",
      '[[runners]]\nexecutor = "plugin"\n[runners.plugin]\nname = "p"\n[runners.plugin.settings]\nbig = 9007199254740993\n',
      [
        "config.toml:6: runners[0].plugin.settings.big: integer 9007199254740993 is too large to pass on (at most 2^53-1)",
      ],
    ],
  ];
  for (const [name, text, expected] of cases) {
    test(name, () => {
      const result: CheckResult = checkConfigText(text, file);
      expect(result.config).toBeUndefined();
      expect(result.problems.map(formatProblem)).toEqual(expected);
    });
  }

  test("a problem is a whole object: severity, file, line, key path, message", () => {
    expect(
      checkConfigText('[[runners]]\nname = "x"\nexecutor = "docker"\n', "/etc/drover/config.toml").problems,
    ).toEqual([
      {
        severity: "error",
        file: "/etc/drover/config.toml",
        line: 3,
        keyPath: 'runners[0] ("x").executor',
        message: 'unknown executor "docker": drover supports shell, custom and plugin',
      },
    ]);
  });
});

describe("TOML syntax errors", () => {
  test("one error with the line of the syntax error", () => {
    expect(checkConfigText('concurrent = 1\n[[runners]]\nname = "a\n', file)).toEqual({
      problems: [
        {
          severity: "error",
          file,
          line: 3,
          keyPath: "",
          message: expect.stringMatching(/^invalid TOML: .+ \(column \d+\)$/),
        },
      ],
    });
  });
  test("a key defined twice", () => {
    expect(problemsOf("a = 1\nb = 2\na = 3\n")).toEqual([
      "config.toml:3: invalid TOML: trying to redefine an already defined table or value (column 1)",
    ]);
  });
});

test("several problems at once, in line order, warnings among them", () => {
  const text = `concurrent = "4"
colour = "blue"
[[runners]]
  name = "lxd"
  executor = "custom"
  environment = ["NOPE"]
  [runners.custom]
    run_exe = "/opt/run.sh"
[[runners]]
  name = "lxd"
  executor = "docker"
[hooks]
  job_started = "hook.sh"
`;
  expect(problemsOf(text)).toEqual([
    'config.toml:1: concurrent: expected a positive integer, got string "4"',
    "config.toml:2: warning: colour: unknown key, ignored",
    'config.toml:6: runners[0] ("lxd").environment[0]: expected "KEY=VALUE", got "NOPE"',
    'config.toml:7: runners[0] ("lxd").custom.run_exec: custom executor is missing RunExec',
    'config.toml:8: warning: runners[0] ("lxd").custom.run_exe: unknown key, ignored',
    'config.toml:10: runners[1] ("lxd").name: duplicate runner name "lxd": also used by runners[0] on line 3',
    'config.toml:11: runners[1] ("lxd").executor: unknown executor "docker": drover supports shell, custom and plugin',
    'config.toml:13: hooks.job_started: hook path must be absolute, got "hook.sh"',
  ]);
});

describe("formatProblem leaves out what is unknown", () => {
  const p: ConfigProblem = { severity: "error", file: "c.toml", line: 12, keyPath: "a.b", message: "bad" };
  test.each([
    [p, "c.toml:12: a.b: bad"],
    [{ ...p, line: undefined }, "c.toml: a.b: bad"],
    [{ ...p, file: undefined }, "line 12: a.b: bad"],
    [{ ...p, file: undefined, line: undefined, keyPath: "" }, "bad"],
    [{ ...p, severity: "warning" as const }, "c.toml:12: warning: a.b: bad"],
  ])("%o", (problem, expected) => {
    expect(formatProblem(problem)).toBe(expected);
  });
});

test("leftover tables of another executor: a warning", () => {
  expect(problemsOf('[[runners]]\nexecutor = "shell"\n[runners.plugin]\nname = "x"\n')).toEqual([
    'config.toml:3: warning: runners[0].plugin: ignored: executor is "shell"',
  ]);
});
