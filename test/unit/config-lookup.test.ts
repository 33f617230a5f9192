import { describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DroverError } from "../../kernel/errors.ts";
import {
  type ConfigLocation,
  defaultConfig,
  type LookupInput,
  loadConfig,
  lookupConfig,
} from "../../src/config/index.ts";

const base: LookupInput = { env: {}, cwd: "/work/project", homeDir: "/home/ci" };
const existing =
  (...paths: string[]) =>
  (path: string) =>
    paths.includes(path);

/** The error a function throws, so whole objects can be compared. */
function thrown(f: () => unknown): DroverError {
  try {
    f();
  } catch (err) {
    if (DroverError.is(err)) return err;
    throw err;
  }
  throw new Error("did not throw");
}

describe('lookupConfig (the order of docs/configuration.md, "Which file is read")', () => {
  const all = existing(
    "/etc/flag.toml",
    "/etc/env.toml",
    "/work/project/config.toml",
    "/xdg/drover/config.toml",
    "/home/ci/.config/drover/config.toml",
  );
  const env = { DROVER_CONFIG: "/etc/env.toml", XDG_CONFIG_HOME: "/xdg" };

  test("--config first", () => {
    expect(lookupConfig({ ...base, env, explicitPath: "/etc/flag.toml" }, all)).toEqual({
      kind: "file",
      path: "/etc/flag.toml",
      from: "flag",
    });
  });
  test("then $DROVER_CONFIG", () => {
    expect(lookupConfig({ ...base, env }, all)).toEqual({ kind: "file", path: "/etc/env.toml", from: "env" });
  });
  test("then ./config.toml", () => {
    expect(lookupConfig({ ...base, env: { XDG_CONFIG_HOME: "/xdg", DROVER_CONFIG: "" } }, all)).toEqual({
      kind: "file",
      path: "/work/project/config.toml",
      from: "cwd",
    });
  });
  test("then $XDG_CONFIG_HOME/drover/config.toml", () => {
    expect(
      lookupConfig({ ...base, env: { XDG_CONFIG_HOME: "/xdg" } }, existing("/xdg/drover/config.toml")),
    ).toEqual({
      kind: "file",
      path: "/xdg/drover/config.toml",
      from: "xdg",
    });
  });
  test("XDG defaults to ~/.config, also when $XDG_CONFIG_HOME is relative", () => {
    const home = existing("/home/ci/.config/drover/config.toml");
    const expected: ConfigLocation = {
      kind: "file",
      path: "/home/ci/.config/drover/config.toml",
      from: "xdg",
    };
    expect(lookupConfig(base, home)).toEqual(expected);
    expect(lookupConfig({ ...base, env: { XDG_CONFIG_HOME: "rel" } }, home)).toEqual(expected);
  });
  test("else the built-in defaults", () => {
    expect(lookupConfig(base, existing())).toEqual({ kind: "builtin" });
  });
  test("a relative --config is relative to cwd", () => {
    expect(lookupConfig({ ...base, explicitPath: "ci/c.toml" }, existing("/work/project/ci/c.toml"))).toEqual(
      {
        kind: "file",
        path: "/work/project/ci/c.toml",
        from: "flag",
      },
    );
  });
  test("a missing --config or $DROVER_CONFIG file is an error naming it, not a fall-through", () => {
    const flag = thrown(() => lookupConfig({ ...base, explicitPath: "nope.toml" }, all));
    expect([flag.code, flag.shortMessage, flag.details]).toEqual([
      "config_invalid",
      'config file "/work/project/nope.toml" (from --config) does not exist',
      { file: "/work/project/nope.toml" },
    ]);
    const fromEnv = thrown(() => lookupConfig({ ...base, env: { DROVER_CONFIG: "/etc/gone.toml" } }, all));
    expect([fromEnv.code, fromEnv.shortMessage]).toEqual([
      "config_invalid",
      'config file "/etc/gone.toml" (from $DROVER_CONFIG) does not exist',
    ]);
  });
});

async function withTempDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "drover-config-"));
  try {
    await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("loadConfig", () => {
  test("no file anywhere: built-in defaults, one shell runner", async () => {
    await withTempDir(async (dir) => {
      const result = await loadConfig({ env: { XDG_CONFIG_HOME: join(dir, "xdg") }, cwd: dir, homeDir: dir });
      expect(result).toEqual({ config: defaultConfig(), warnings: [] });
      expect(result.config).toEqual({
        concurrent: 1,
        logLevel: undefined,
        logFormat: undefined,
        pluginHandshakeTimeoutMs: 10_000,
        checkIntervalSeconds: 3,
        shutdownTimeoutSeconds: 30,
        listenAddress: undefined,
        pluginRegistry: "https://registry.npmjs.org/",
        runners: [
          {
            name: "default",
            executor: "shell",
            limit: 0,
            environment: [],
            featureFlags: {},
            scripts: {},
            requestConcurrency: 1,
            outputLimitBytes: 4 * 1024 * 1024,
            unhealthyRequestsLimit: 3,
            unhealthyIntervalMs: 60_000,
            finalUpdateRetryLimit: 10,
            line: 0,
          },
        ],
        hooks: { jobStarted: [], jobCompleted: [], plugins: [], passVariables: [] },
        source: undefined,
      });
    });
  });

  test("reads ./config.toml and returns its warnings", async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, "config.toml");
      await writeFile(file, 'concurrent = 2\nmystery = 1\n[[runners]]\nname = "a"\n');
      const { config, warnings } = await loadConfig({ env: {}, cwd: dir, homeDir: dir });
      expect([config.source, config.concurrent, config.runners.map((r) => r.name)]).toEqual([file, 2, ["a"]]);
      expect(warnings).toEqual([
        { severity: "warning", file, line: 2, keyPath: "mystery", message: "unknown key, ignored" },
      ]);
    });
  });

  test("an invalid file throws config_invalid with every problem, errors first", async () => {
    await withTempDir(async (dir) => {
      await mkdir(join(dir, "etc"));
      const file = join(dir, "etc", "drover.toml");
      await writeFile(
        file,
        '[[runners]]\nexecutor = "custom"\nlimit = -1\n[runners.custom]\nrun_exe = "/x"\n',
      );
      const err = await loadConfig({ env: { DROVER_CONFIG: file }, cwd: dir, homeDir: dir }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(DroverError.is(err)).toBe(true);
      const { code, shortMessage, details } = err as DroverError;
      expect({ code, shortMessage, details }).toEqual({
        code: "config_invalid",
        shortMessage: `invalid configuration in ${file}: 2 errors`,
        details: {
          file,
          line: 3,
          keyPath: "runners[0].limit",
          problems: [
            `${file}:3: runners[0].limit: expected a non-negative integer, got integer -1`,
            `${file}:4: runners[0].custom.run_exec: custom executor is missing RunExec`,
            `${file}:5: warning: runners[0].custom.run_exe: unknown key, ignored`,
          ],
        },
      });
    });
  });

  test("a config path that is a directory: config_invalid naming it", async () => {
    await withTempDir(async (dir) => {
      const err = await loadConfig({ explicitPath: dir, env: {}, cwd: dir, homeDir: dir }).catch(
        (e: unknown) => e,
      );
      expect(DroverError.is(err) && [err.code, err.shortMessage]).toEqual([
        "config_invalid",
        `cannot read config file ${JSON.stringify(dir)}: EISDIR`,
      ]);
    });
  });
});
