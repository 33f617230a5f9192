/** config_exec's JSON answer, read as GitLab Runner reads it (plugins/custom/config-output.ts). */
import { describe, expect, test } from "bun:test";
import { parseConfigOutput } from "../../plugins/custom/config-output.ts";

describe("parseConfigOutput", () => {
  test("every key GitLab documents, plus shell", () => {
    const out = parseConfigOutput(
      JSON.stringify({
        builds_dir: "/builds/7/group-proj",
        cache_dir: "/cache/7",
        builds_dir_is_shared: true,
        hostname: "custom-hostname",
        driver: { name: "test driver", version: "v0.0.1" },
        job_env: { CUSTOM_ENVIRONMENT: "example" },
        shell: "bash",
      }),
    );
    expect(out).toEqual({
      ok: true,
      overrides: {
        buildsDir: "/builds/7/group-proj",
        cacheDir: "/cache/7",
        buildsDirIsShared: true,
        hostname: "custom-hostname",
        driver: { name: "test driver", version: "v0.0.1" },
        jobEnv: { CUSTOM_ENVIRONMENT: "example" },
        shell: "bash",
      },
    });
  });

  test.each(["", "\n", "  \n\t", "null"])("no answer (%j) means no overrides", (stdout) => {
    expect(parseConfigOutput(stdout)).toEqual({ ok: true, overrides: {} });
  });

  test("unknown keys are ignored, null means not set", () => {
    expect(
      parseConfigOutput(
        '{"builds_dir": null, "future_key": {"x": 1}, "driver": {"name": "d", "version": null}}',
      ),
    ).toEqual({ ok: true, overrides: { driver: { name: "d" } } });
  });

  test("key names match case-insensitively, like Go's encoding/json; the last one wins", () => {
    expect(parseConfigOutput('{"Builds_Dir": "/a", "BUILDS_DIR": "/b", "Driver": {"NAME": "n"}}')).toEqual({
      ok: true,
      overrides: { buildsDir: "/b", driver: { name: "n" } },
    });
  });

  test("an empty job_env is an (empty) override", () => {
    expect(parseConfigOutput('{"job_env": {}}')).toEqual({ ok: true, overrides: { jobEnv: {} } });
  });

  const invalid: Array<[string, string]> = [
    ["not json at all", "error while parsing JSON output: "],
    ['{"builds_dir": "/b"', "error while parsing JSON output: "],
    ["[]", "error while parsing JSON output: expected a JSON object, got an array"],
    ['"a string"', 'error while parsing JSON output: expected a JSON object, got string "a string"'],
    ['{"builds_dir": 3}', "error while parsing JSON output: builds_dir: expected a string, got number 3"],
    [
      '{"builds_dir_is_shared": "yes"}',
      'error while parsing JSON output: builds_dir_is_shared: expected a boolean, got string "yes"',
    ],
    ['{"driver": "lxd"}', 'error while parsing JSON output: driver: expected an object, got string "lxd"'],
    [
      '{"driver": {"version": 1}}',
      "error while parsing JSON output: driver: version: expected a string, got number 1",
    ],
    [
      '{"job_env": {"A": 1}}',
      'error while parsing JSON output: job_env: "A": expected a string, got number 1',
    ],
    [
      '{"job_env": ["A=1"]}',
      "error while parsing JSON output: job_env: expected an object of strings, got an array",
    ],
  ];
  test.each(invalid)("%s is an error", (stdout, message) => {
    const out = parseConfigOutput(stdout);
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.message.startsWith(message)).toBe(true);
  });

  test("an invalid document's message says what the parser found", () => {
    const out = parseConfigOutput("not json at all");
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.message.length).toBeGreaterThan("error while parsing JSON output: ".length);
  });
});
