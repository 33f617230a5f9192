import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DroverError } from "../../kernel/errors.ts";
import { adHocJob, findJsonSyntaxError, parseJob, projectDirFor } from "../../src/job/index.ts";

const minimal = { id: 42, steps: [{ name: "script", script: ["echo hi"] }] };

function parseObj(value: unknown) {
  return parseJob(JSON.stringify(value), "job.json");
}

/** The DroverError `fn` throws (fails the test if it throws anything else or nothing). */
function errorOf(fn: () => unknown): DroverError {
  try {
    fn();
  } catch (err) {
    if (DroverError.is(err)) return err;
    throw err;
  }
  throw new Error("expected a DroverError, nothing was thrown");
}

describe("parseJob errors", () => {
  test("not JSON: line, column and what was expected", () => {
    const err = errorOf(() => parseJob('{\n  "id": 1,\n  "steps": tru\n}', "jobs/a.json"));
    expect(err.code).toBe("job_invalid");
    expect(err.shortMessage).toBe(
      'invalid job in jobs/a.json: line 3 column 12: not valid JSON: expected a value, found "t"',
    );
    expect(err.details).toEqual({ file: "jobs/a.json", line: 3 });
  });

  test.each([
    ["", 1, 1, "a value", "end of input"],
    ['{"a":1,}', 1, 8, "a string key", '"}"'],
    ['{"a" 1}', 1, 6, "':'", '"1"'],
    ["[1 2]", 1, 4, "',' or ']'", '"2"'],
    ['{"a":1} x', 1, 9, "end of input", '"x"'],
    ['["\\x"]', 1, 4, "a valid string", '"x"'],
    ["[01]", 1, 3, "',' or ']'", '"1"'],
    ["[".repeat(100_000), 1, 100_001, "a value", "end of input"],
  ])("locates the error in %j", (text, line, column, expected, found) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(findJsonSyntaxError(text)).toMatchObject({ line, column, expected, found });
  });

  test("the scanner agrees with JSON.parse on valid and broken JSON", () => {
    const broken = fc
      .tuple(fc.json(), fc.nat(), fc.constantFrom("", "x", ",", "}", "]", '"', "\\", ":", "-", "\u0001", " "))
      .map(([json, at, insert]) => {
        const i = at % (json.length + 1);
        return json.slice(0, i) + insert + json.slice(i + (at % 2));
      });
    fc.assert(
      fc.property(fc.oneof(fc.json(), broken), (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        expect(findJsonSyntaxError(text) === undefined).toBe(valid);
      }),
      { numRuns: 2000 },
    );
  });

  test("valid JSON has no syntax error", () => {
    expect(
      findJsonSyntaxError('{"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"], "b": {}}'),
    ).toBeUndefined();
  });

  test.each([
    [[], "(top level): expected an object, got array"],
    [{ steps: [] }, "id: missing, expected a non-negative integer or a non-empty string"],
    [{ id: 1.5, steps: [] }, "id: expected a non-negative integer or a non-empty string, got number"],
    [{ id: 1 }, "steps: missing, expected an array of steps"],
    [{ id: 1, steps: {} }, "steps: expected an array, got object"],
    [{ id: 1, steps: [] }, 'steps: expected a step named "script"'],
    [{ id: 1, steps: [{ name: "after_script", script: [] }] }, 'steps: expected a step named "script"'],
    [
      { id: 1, steps: [{ name: "script", script: ["a", "b", 3] }] },
      "steps[0].script[2]: expected a string, got number",
    ],
    [{ id: 1, steps: [{ name: "script" }] }, "steps[0].script: missing, expected an array"],
    [{ id: 1, steps: [{ script: [] }] }, "steps[0].name: missing, expected a string"],
    [
      { id: 1, steps: [{ name: "script", script: [], when: "sometimes" }] },
      'steps[0].when: expected "on_success", "on_failure" or "always", got "sometimes"',
    ],
    [
      {
        id: 1,
        steps: [
          { name: "script", script: [] },
          { name: "script", script: [] },
        ],
      },
      'steps[1].name: step "script" appears twice',
    ],
    [
      { ...minimal, variables: [{ key: "A", value: 1 }] },
      "variables[0].value: expected a string, got number",
    ],
    [
      { ...minimal, variables: [{ key: "A", masked: "yes" }] },
      "variables[0].masked: expected a boolean, got string",
    ],
    [
      { ...minimal, variables: [{ key: "A B" }] },
      'variables[0].key: expected letters, digits and "_", got "A B"',
    ],
    [{ ...minimal, job_info: { name: 3 } }, "job_info.name: expected a string, got number"],
    [
      { ...minimal, runner_info: { timeout: "1h" } },
      "runner_info.timeout: expected a non-negative number, got string",
    ],
    [{ ...minimal, git_info: { sha: "abc" } }, "git_info.repo_url: missing, expected a string"],
    [
      { ...minimal, git_info: { repo_url: "/r", sha: "HEAD" } },
      'git_info.sha: expected a commit id, got "HEAD"',
    ],
    [
      { ...minimal, git_info: { repo_url: "/r", sha: "a".repeat(40), refspecs: ["x", null] } },
      "git_info.refspecs[1]: expected a string, got null",
    ],
    [
      { ...minimal, cache: [{ policy: "pull-only" }] },
      'cache[0].policy: unknown cache policy "pull-only": expected "pull-push", "pull" or "push"',
    ],
    [{ ...minimal, cache: [{ paths: "vendor" }] }, "cache[0].paths: expected an array, got string"],
    [
      { ...minimal, services: [{ name: "db", entrypoint: [1] }] },
      "services[0].entrypoint[0]: expected a string, got number",
    ],
    [{ ...minimal, image: "alpine" }, "image: expected an object, got string"],
    [
      { ...minimal, hooks: [{ name: "post_build_script", script: [] }] },
      'hooks[0].name: unknown hook "post_build_script"; drover knows "pre_get_sources_script" and "post_get_sources_script"',
    ],
    [
      { ...minimal, features: { token_mask_prefixes: "glpat-" } },
      "features.token_mask_prefixes: expected an array, got string",
    ],
    [
      { ...minimal, dependencies: [{ name: "build" }] },
      "dependencies[0].id: missing, expected a non-negative integer or a non-empty string",
    ],
  ])("%j", (value, message) => {
    const err = errorOf(() => parseObj(value));
    expect(err.code).toBe("job_invalid");
    expect(err.shortMessage).toBe(`invalid job in job.json: ${message}`);
    expect(err.details.file).toBe("job.json");
    expect(err.details.keyPath).toBe(message.slice(0, message.indexOf(": ")));
  });
});

describe("parseJob defaults", () => {
  test("a minimal job takes GitLab's defaults", () => {
    const job = parseObj(minimal);
    expect(job).toEqual({
      id: "42",
      token: "",
      name: "job",
      stage: "test",
      projectId: 0,
      projectPath: "project-0",
      git: undefined,
      timeoutSeconds: 3600,
      variables: [],
      steps: [
        {
          name: "script",
          script: ["echo hi"],
          timeoutSeconds: undefined,
          when: "on_success",
          allowFailure: false,
        },
      ],
      image: undefined,
      services: [],
      cache: [],
      artifacts: [],
      dependencies: [],
      hooks: { preGetSourcesScript: [], postGetSourcesScript: [] },
      features: { traceSections: false, tokenMaskPrefixes: [] },
      payload: minimal,
    });
  });

  test("hooks and features", () => {
    const job = parseObj({
      ...minimal,
      hooks: [{ name: "pre_get_sources_script", script: ["git config --global http.version HTTP/1.1"] }],
      features: {
        trace_sections: true,
        token_mask_prefixes: ["abc-", "xyz_"],
        failure_reasons: ["script_failure"],
      },
    });
    expect(job.hooks).toEqual({
      preGetSourcesScript: ["git config --global http.version HTTP/1.1"],
      postGetSourcesScript: [],
    });
    expect(job.features).toEqual({ traceSections: true, tokenMaskPrefixes: ["abc-", "xyz_"] });
  });

  test("a GitLab payload, nulls included", () => {
    const sha = "0123456789abcdef0123456789abcdef01234567";
    const payload = {
      id: "7",
      token: "tok",
      allow_git_fetch: true,
      job_info: { name: "unit", stage: "build", project_id: 12, project_name: "Web App" },
      git_info: {
        repo_url: "https://gitlab-ci-token:tok@gitlab.example.com/grp/sub/web-app.git",
        ref: "main",
        sha,
        before_sha: "",
        ref_type: "branch",
        refspecs: null,
        depth: 20,
      },
      runner_info: { timeout: 600 },
      variables: [
        { key: "A", value: "1", public: true, masked: false },
        { key: "B", value: "$A", raw: true, file: true },
      ],
      steps: [
        { name: "script", script: ["make"], timeout: 600, when: "on_success", allow_failure: false },
        { name: "after_script", script: ["echo done"], timeout: 600, when: "", allow_failure: true },
      ],
      image: { name: "" },
      services: [
        {
          name: "postgres:16",
          alias: "",
          entrypoint: null,
          command: ["postgres", "-c", "fsync=off"],
          variables: [{ key: "POSTGRES_PASSWORD", value: "x" }],
        },
      ],
      cache: [{ key: "", paths: ["vendor/"], policy: "", when: "", untracked: false }],
      artifacts: null,
      dependencies: [
        { id: 5, name: "build", token: "t", artifacts_file: { filename: "artifacts.zip", size: 10 } },
      ],
      features: { trace_sections: true },
    };
    const job = parseObj(payload);
    expect(job.id).toBe("7");
    expect(job.projectPath).toBe("grp/sub/web-app");
    expect(job.timeoutSeconds).toBe(600);
    expect(job.git).toEqual({
      repoUrl: payload.git_info.repo_url,
      ref: "main",
      sha,
      beforeSha: "",
      refType: "branch",
      refspecs: ["+refs/heads/main:refs/remotes/origin/main"],
      depth: 20,
    });
    expect(job.variables).toEqual([
      { key: "A", value: "1", public: true, masked: false, file: false, raw: false },
      { key: "B", value: "$A", public: false, masked: false, file: true, raw: true },
    ]);
    expect(job.steps[1]).toEqual({
      name: "after_script",
      script: ["echo done"],
      timeoutSeconds: 600,
      when: "always",
      allowFailure: true,
    });
    expect(job.image).toBeUndefined();
    expect(job.services).toEqual([
      {
        name: "postgres:16",
        alias: "",
        entrypoint: [],
        command: ["postgres", "-c", "fsync=off"],
        variables: [
          { key: "POSTGRES_PASSWORD", value: "x", public: false, masked: false, file: false, raw: false },
        ],
        pullPolicy: [],
        ports: [],
      },
    ]);
    expect(job.cache).toEqual([
      {
        key: "",
        fallbackKeys: [],
        paths: ["vendor/"],
        policy: "pull-push",
        when: "on_success",
        untracked: false,
      },
    ]);
    expect(job.artifacts).toEqual([]);
    expect(job.dependencies).toEqual([{ id: "5", name: "build", token: "t", hasArtifacts: true }]);
    expect(job.payload).toEqual(payload);
  });

  test("full-depth default refspecs fetch every branch and tag", () => {
    const job = parseObj({
      ...minimal,
      git_info: { repo_url: "/srv/r.git", sha: "a".repeat(40), ref: "v1", ref_type: "tag" },
    });
    expect(job.git?.refspecs).toEqual(["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]);
    const shallow = parseObj({
      ...minimal,
      git_info: { repo_url: "/srv/r.git", sha: "a".repeat(40), ref: "v1", ref_type: "tag", depth: 1 },
    });
    expect(shallow.git?.refspecs).toEqual(["+refs/tags/v1:refs/tags/v1"]);
  });

  test("a cache policy from a variable is expanded as gitlab-runner does; an unknown one names its source", () => {
    const variables = [
      { key: "CACHE_POLICY", value: "pull" },
      { key: "BAD", value: "pull-only" },
    ];
    const job = parseObj({
      ...minimal,
      variables,
      cache: [{ policy: "$CACHE_POLICY", fallback_keys: ["a"] }],
    });
    expect(job.cache[0]?.policy).toBe("pull");
    expect(job.cache[0]?.fallbackKeys).toEqual(["a"]);
    expect(parseObj({ ...minimal, cache: [{ policy: "$UNSET" }] }).cache[0]?.policy).toBe("pull-push");
    expect(() => parseObj({ ...minimal, variables, cache: [{ policy: "$BAD" }] })).toThrow(
      'cache[0].policy: unknown cache policy "pull-only" (from "$BAD"): expected "pull-push", "pull" or "push"',
    );
  });

  test.each([
    [{ variables: [{ key: "CI_PROJECT_PATH", value: "a/b" }] }, "https://h/x/y.git", "a/b"],
    [{}, "https://h/x/y.git", "x/y"],
    [{}, "git@h.example.com:grp/proj.git", "grp/proj"],
    [{}, "file:///srv/git/proj.git", "srv/git/proj"],
    [{}, "/srv/git/proj/", "srv/git/proj"],
    [{}, "https://h/../../etc/", "etc"],
    [{ variables: [{ key: "CI_PROJECT_PATH", value: "../.." }] }, "https://h/", "Name"],
  ])("project path from %j and %s", (extra, repoUrl, expected) => {
    const job = parseObj({
      ...minimal,
      ...extra,
      job_info: { project_name: "Name" },
      git_info: { repo_url: repoUrl, sha: "a".repeat(40) },
    });
    expect(job.projectPath).toBe(expected);
  });

  test("10 MiB of file variables parse; 10 MiB exported would be refused, naming the problem", () => {
    const variables = Array.from({ length: 100_000 }, (_, i) => ({
      key: `V${i}`,
      value: "x".repeat(100),
      masked: i % 2 === 0,
      file: true,
    }));
    const text = JSON.stringify({ ...minimal, variables });
    expect(text.length).toBeGreaterThan(10 * 1024 * 1024);
    expect(parseJob(text, "big.json").variables).toHaveLength(100_000);
    const exported = JSON.stringify({ ...minimal, variables: variables.map((v) => ({ ...v, file: false })) });
    expect(() => parseJob(exported, "big.json")).toThrow(
      "invalid job in big.json: variables: 10.3 MiB of variables; a job's environment may hold at most 1 MiB",
    );
  });
});

describe("adHocJob", () => {
  test("one script step, no repository, the cwd as project dir", () => {
    const job = adHocJob(["make test", "echo ok"], { cwd: "/home/me/proj", id: "local-1" });
    expect(job).toMatchObject({
      id: "local-1",
      name: "exec",
      projectPath: "proj",
      git: undefined,
      variables: [
        { key: "GIT_STRATEGY", value: "none", public: true, masked: false, file: false, raw: false },
      ],
      steps: [
        {
          name: "script",
          script: ["make test", "echo ok"],
          timeoutSeconds: undefined,
          when: "on_success",
          allowFailure: false,
        },
      ],
      adHoc: { cwd: "/home/me/proj" },
    });
    expect(
      projectDirFor(job, "/builds", { isShared: true, runnerShortToken: "abc", concurrentProjectId: 0 }),
    ).toBe("/home/me/proj");
  });

  test("no command is a usage error", () => {
    expect(errorOf(() => adHocJob([], { cwd: "/", id: "1" })).code).toBe("usage");
  });
});

describe("projectDirFor", () => {
  const job = parseObj({ ...minimal, git_info: { repo_url: "https://h/grp/proj.git", sha: "a".repeat(40) } });
  test("not shared: <builds>/<namespace>/<project>", () => {
    expect(
      projectDirFor(job, "/builds", { isShared: false, runnerShortToken: "t0k", concurrentProjectId: 2 }),
    ).toBe("/builds/grp/proj");
  });
  test("shared: <builds>/<short token>/<concurrent project id>/<namespace>/<project>", () => {
    expect(
      projectDirFor(job, "/builds/", { isShared: true, runnerShortToken: "t0k", concurrentProjectId: 2 }),
    ).toBe("/builds/t0k/2/grp/proj");
  });
});
