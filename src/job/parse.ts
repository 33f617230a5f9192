/**
 * GitLab job JSON → `Job`. The one place a job description is checked: a malformed file is rejected
 * before anything runs, with a message naming the source file and the field path
 * (`steps[0].script[2]: expected a string, got number`). Missing optional fields (and `null`, which
 * GitLab sends for absent lists) take GitLab's defaults.
 *
 * Linear in the size of the input: a job with 10 MiB of variables is read in one pass, and a field
 * path string is built only for the element being read or the error being reported.
 */

import { DroverError } from "../../kernel/errors.ts";
import { expandVariables, variableTable } from "../../kernel/variables.ts";
import { parseRepository, refNameProblem, refspecProblem } from "./git-input.ts";
import { findJsonSyntaxError } from "./json.ts";
import type {
  ArtifactSpec,
  CachePolicy,
  CacheSpec,
  GitInfo,
  ImageSpec,
  Job,
  JobDependency,
  JobFeatures,
  JobHooks,
  JobStep,
  JobVariable,
} from "./model.ts";
import { projectPathOf } from "./project.ts";

/** GitLab's job timeout when `runner_info.timeout` is absent. */
export const DEFAULT_JOB_TIMEOUT_SECONDS = 3600;

const WHEN = ["on_success", "on_failure", "always"] as const;
const CACHE_POLICY = ["pull-push", "pull", "push"] as const;
/** GitLab accepts `[A-Za-z0-9_]+` as a variable key; anything else cannot be exported or named as a file. */
const VARIABLE_KEY = /^[A-Za-z0-9_]+$/;
/** Step names become stage names (`step_<name>`) handed to drivers as an argument. */
const STEP_NAME = /^[A-Za-z0-9_]+$/;

type Obj = Record<string, unknown>;

/** GitLab's job hook names (`hooks:` in .gitlab-ci.yml). */
const HOOKS: Record<string, keyof JobHooks> = {
  pre_get_sources_script: "preGetSourcesScript",
  post_get_sources_script: "postGetSourcesScript",
};

/** Parses and checks a job description; `source` (usually the file path) is named in every error. */
export function parseJob(text: string, source: string): Job {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (err) {
    const at = findJsonSyntaxError(text);
    if (at === undefined) {
      throw new DroverError(
        "job_invalid",
        `invalid job in ${source}: not valid JSON`,
        { file: source },
        { cause: err },
      );
    }
    throw new DroverError(
      "job_invalid",
      `invalid job in ${source}: line ${at.line} column ${at.column}: not valid JSON: expected ${at.expected}, found ${at.found}`,
      { file: source, line: at.line },
      { cause: err },
    );
  }
  return jobFromPayload(payload, source);
}

/**
 * Linux refuses to start a process whose environment is too large (E2BIG: one string over 128 KiB,
 * or all of them over about a quarter of the stack limit), and every stage exports the job's
 * variables. A job that could only fail that way is refused up front, naming the variable.
 * File variables are written to files, not exported: they are the way to pass large values.
 */
const MAX_VARIABLE_BYTES = 128 * 1024;
const MAX_ENVIRONMENT_BYTES = 1024 * 1024;

function checkEnvironmentSize(r: Reader, variables: readonly JobVariable[]): void {
  let total = 0;
  variables.forEach((v, i) => {
    if (v.file) return;
    const bytes = Buffer.byteLength(v.key) + Buffer.byteLength(v.value) + 2;
    if (bytes > MAX_VARIABLE_BYTES) {
      r.fail(
        `variables[${i}] (${v.key})`,
        `its value is ${formatSize(bytes)}; an environment variable may hold at most 128 KiB (make it a file variable: "file": true)`,
      );
    }
    total += bytes;
  });
  if (total > MAX_ENVIRONMENT_BYTES) {
    r.fail(
      "variables",
      `${formatSize(total)} of variables; a job's environment may hold at most 1 MiB (make large values file variables: "file": true)`,
    );
  }
}

function formatSize(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(1)} MiB`
    : `${(bytes / 1024).toFixed(1)} KiB`;
}

/** Checks an already parsed payload (adhoc.ts builds one in memory). */
export function jobFromPayload(payload: unknown, source: string): Job {
  const r = new Reader(source);
  const root = r.object(payload, "");
  const id = r.id(root.id, "id");
  const token = r.optString(root, "token", "", "");
  const jobInfo = r.optObject(root, "job_info", "");
  const name = jobInfo ? r.optString(jobInfo, "name", "job_info", "") : "";
  const stage = jobInfo ? r.optString(jobInfo, "stage", "job_info", "") : "";
  const projectId = jobInfo ? r.optInteger(jobInfo, "project_id", "job_info", 0) : 0;
  const projectName = jobInfo ? r.optString(jobInfo, "project_name", "job_info", "") : "";
  const runnerInfo = r.optObject(root, "runner_info", "");
  const timeout = runnerInfo ? r.optNumber(runnerInfo, "timeout", "runner_info", 0) : 0;
  const variables = r.optArray(root, "variables", "", (v, at) => r.variable(v, at));
  checkEnvironmentSize(r, variables);
  const git = r.gitInfo(root);
  r.refuseSecrets(root);
  return {
    id,
    token,
    // GitLab's defaults for a job without a name or stage (".gitlab-ci.yml" requires both).
    name: name === "" ? "job" : name,
    stage: stage === "" ? "test" : stage,
    projectId,
    projectPath: projectPathOf(variables, git?.repoUrl, projectName, projectId),
    git,
    timeoutSeconds: timeout > 0 ? timeout : DEFAULT_JOB_TIMEOUT_SECONDS,
    variables,
    steps: r.steps(root),
    image: r.image(root),
    services: r.optArray(root, "services", "", (v, at) => r.service(v, at)),
    cache: r.optArray(root, "cache", "", (v, at) => r.cache(v, at, variables)),
    artifacts: r.optArray(root, "artifacts", "", (v, at) => r.artifact(v, at)),
    dependencies: r.optArray(root, "dependencies", "", (v, at) => r.dependency(v, at)),
    hooks: r.hooks(root),
    features: r.features(root),
    payload,
  };
}

/**
 * GitLab's refspecs when the payload carries none (older coordinators, hand-written files): every
 * branch and tag for a full fetch; only the job's ref for a shallow one, as GitLab's server does.
 */
export function defaultRefspecs(ref: string, refType: string, depth: number): string[] {
  if (depth === 0 || ref === "") return ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"];
  return refType === "tag"
    ? [`+refs/tags/${ref}:refs/tags/${ref}`]
    : [`+refs/heads/${ref}:refs/remotes/origin/${ref}`];
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function child(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

class Reader {
  constructor(private readonly source: string) {}

  fail(path: string, problem: string): never {
    const where = path === "" ? "(top level)" : path;
    throw new DroverError("job_invalid", `invalid job in ${this.source}: ${where}: ${problem}`, {
      file: this.source,
      keyPath: where,
    });
  }

  expected(path: string, what: string, value: unknown): never {
    return this.fail(
      path,
      value === undefined ? `missing, expected ${what}` : `expected ${what}, got ${typeName(value)}`,
    );
  }

  object(value: unknown, path: string): Obj {
    if (typeof value !== "object" || value === null || Array.isArray(value))
      return this.expected(path, "an object", value);
    return value as Obj;
  }

  optObject(o: Obj, key: string, path: string): Obj | undefined {
    const value = o[key];
    return value === undefined || value === null ? undefined : this.object(value, child(path, key));
  }

  /** Ids are numbers in GitLab's JSON and strings in some hand-written files; drover keeps strings. */
  id(value: unknown, path: string): string {
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return String(value);
    if (typeof value === "string" && value !== "") return value;
    return this.expected(path, "a non-negative integer or a non-empty string", value);
  }

  string(value: unknown, path: string): string {
    return typeof value === "string" ? value : this.expected(path, "a string", value);
  }

  optString(o: Obj, key: string, path: string, fallback: string): string {
    const value = o[key];
    return value === undefined || value === null ? fallback : this.string(value, child(path, key));
  }

  optBoolean(o: Obj, key: string, path: string, fallback: boolean): boolean {
    const value = o[key];
    if (value === undefined || value === null) return fallback;
    return typeof value === "boolean" ? value : this.expected(child(path, key), "a boolean", value);
  }

  optNumber(o: Obj, key: string, path: string, fallback: number): number {
    const value = o[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value;
    return this.expected(child(path, key), "a non-negative number", value);
  }

  optInteger(o: Obj, key: string, path: string, fallback: number): number {
    const value = o[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
    return this.expected(child(path, key), "a non-negative integer", value);
  }

  /** An enum; "" counts as absent (GitLab sends `"policy": ""` for the default). */
  optEnum<T extends string>(o: Obj, key: string, path: string, allowed: readonly T[], fallback: T): T {
    const value = this.optString(o, key, path, "");
    if (value === "") return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    const list = allowed.map((a) => JSON.stringify(a));
    return this.fail(
      child(path, key),
      `expected ${list.slice(0, -1).join(", ")} or ${list[list.length - 1]}, got ${JSON.stringify(value)}`,
    );
  }

  array(value: unknown, path: string): unknown[] {
    return Array.isArray(value) ? value : this.expected(path, "an array", value);
  }

  optArray<T>(o: Obj, key: string, path: string, item: (value: unknown, at: string) => T): T[] {
    const value = o[key];
    if (value === undefined || value === null) return [];
    const at = child(path, key);
    const list = this.array(value, at);
    const out = new Array<T>(list.length);
    for (let i = 0; i < list.length; i++) out[i] = item(list[i], `${at}[${i}]`);
    return out;
  }

  optStrings(o: Obj, key: string, path: string): string[] {
    return this.optArray(o, key, path, (v, at) => this.string(v, at));
  }

  variable(value: unknown, at: string): JobVariable {
    const o = this.object(value, at);
    const key = this.string(o.key, child(at, "key"));
    if (!VARIABLE_KEY.test(key)) {
      this.fail(
        child(at, "key"),
        `expected letters, digits and "_", got ${JSON.stringify(key.slice(0, 80))}`,
      );
    }
    return {
      key,
      value: this.optString(o, "value", at, ""),
      // Go's zero values: GitLab Runner reads a missing flag as false.
      public: this.optBoolean(o, "public", at, false),
      masked: this.optBoolean(o, "masked", at, false),
      file: this.optBoolean(o, "file", at, false),
      raw: this.optBoolean(o, "raw", at, false),
    };
  }

  gitInfo(root: Obj): GitInfo | undefined {
    const o = this.optObject(root, "git_info", "");
    if (o === undefined) return undefined;
    const at = "git_info";
    const repoUrl = this.string(o.repo_url, child(at, "repo_url"));
    if (repoUrl === "") this.fail(child(at, "repo_url"), "expected a repository URL, got an empty string");
    const repository = parseRepository(repoUrl);
    if ("problem" in repository) {
      this.fail(
        child(at, "repo_url"),
        `refusing repository URL ${JSON.stringify(redactUrl(repoUrl))}: ${repository.problem}`,
      );
    }
    const sha = this.string(o.sha, child(at, "sha"));
    if (!/^[0-9a-f]{7,64}$/i.test(sha))
      this.fail(child(at, "sha"), `expected a commit id, got ${JSON.stringify(sha)}`);
    const ref = this.optString(o, "ref", at, "");
    const refProblem = ref === "" ? undefined : refNameProblem(ref);
    if (refProblem)
      this.fail(child(at, "ref"), `refusing ref ${JSON.stringify(ref.slice(0, 80))}: ${refProblem}`);
    const refType = this.optString(o, "ref_type", at, "") || "branch";
    const depth = this.optInteger(o, "depth", at, 0);
    if (depth < 0) this.fail(child(at, "depth"), `expected 0 or more, got ${depth}`);
    const refspecs = this.optStrings(o, "refspecs", at);
    refspecs.forEach((refspec, i) => {
      const problem = refspecProblem(refspec);
      if (problem) {
        this.fail(
          `${at}.refspecs[${i}]`,
          `refusing refspec ${JSON.stringify(refspec.slice(0, 80))}: ${problem}`,
        );
      }
    });
    return {
      repoUrl,
      ref,
      sha,
      beforeSha: this.optString(o, "before_sha", at, ""),
      refType,
      refspecs: refspecs.length > 0 ? refspecs : defaultRefspecs(ref, refType, depth),
      depth,
    };
  }

  steps(root: Obj): JobStep[] {
    if (root.steps === undefined || root.steps === null)
      this.expected("steps", "an array of steps", undefined);
    const steps = this.optArray(root, "steps", "", (v, at) => this.step(v, at));
    const seen = new Set<string>();
    for (const [i, step] of steps.entries()) {
      if (seen.has(step.name))
        this.fail(`steps[${i}].name`, `step ${JSON.stringify(step.name)} appears twice`);
      seen.add(step.name);
    }
    if (!seen.has("script")) this.fail("steps", 'expected a step named "script"');
    return steps;
  }

  step(value: unknown, at: string): JobStep {
    const o = this.object(value, at);
    const name = this.string(o.name, child(at, "name"));
    if (!STEP_NAME.test(name)) {
      this.fail(
        child(at, "name"),
        `expected letters, digits and "_", got ${JSON.stringify(name.slice(0, 80))}`,
      );
    }
    const script = this.array(o.script, child(at, "script"));
    const timeout = this.optNumber(o, "timeout", at, 0);
    return {
      name,
      script: script.map((line, i) => this.string(line, `${at}.script[${i}]`)),
      timeoutSeconds: timeout > 0 ? timeout : undefined,
      // GitLab: the after_script step runs whatever happened; others by default only on success.
      when: this.optEnum(o, "when", at, WHEN, name === "after_script" ? "always" : "on_success"),
      allowFailure: this.optBoolean(o, "allow_failure", at, false),
    };
  }

  /**
   * `secrets:` (HashiCorp Vault, GCP Secret Manager, Azure Key Vault, ...): gitlab-runner fetches
   * them before the job and hands them over as variables. drover does not, and GitLab sends such a
   * job anyway (it asks no runner feature for them); running it without its secrets would fail it
   * late and obscurely, or worse, run it against the wrong target. It is refused here, naming them.
   */
  refuseSecrets(root: Obj): void {
    const secrets = this.optObject(root, "secrets", "");
    if (secrets === undefined || Object.keys(secrets).length === 0) return;
    const described = Object.entries(secrets).map(([name, spec]) => {
      const kinds =
        spec !== null && typeof spec === "object" && !Array.isArray(spec)
          ? Object.keys(spec).filter((k) => k !== "file")
          : [];
      return kinds.length === 0 ? name : `${name} (${kinds.join(", ")})`;
    });
    this.fail(
      "secrets",
      `drover does not fetch external secrets, and the job needs ${described.join(", ")}: it is not run without them (docs/jobs.md, "What drover does not do")`,
    );
  }

  /** `hooks: [{name, script}]`; a hook drover does not know is refused rather than skipped. */
  hooks(root: Obj): JobHooks {
    const hooks: JobHooks = { preGetSourcesScript: [], postGetSourcesScript: [] };
    this.optArray(root, "hooks", "", (value, at) => {
      const o = this.object(value, at);
      const name = this.string(o.name, child(at, "name"));
      const field = HOOKS[name];
      if (field === undefined) {
        this.fail(
          child(at, "name"),
          `unknown hook ${JSON.stringify(name.slice(0, 80))}; drover knows ${Object.keys(HOOKS)
            .map((h) => JSON.stringify(h))
            .join(" and ")}`,
        );
      }
      const script = this.array(o.script, child(at, "script"));
      hooks[field] = script.map((line, i) => this.string(line, `${at}.script[${i}]`));
    });
    return hooks;
  }

  features(root: Obj): JobFeatures {
    const o = this.optObject(root, "features", "");
    return {
      traceSections: o ? this.optBoolean(o, "trace_sections", "features", false) : false,
      tokenMaskPrefixes: o ? this.optStrings(o, "token_mask_prefixes", "features") : [],
    };
  }

  image(root: Obj): ImageSpec | undefined {
    const o = this.optObject(root, "image", "");
    if (o === undefined) return undefined;
    const image = this.imageSpec(o, "image");
    // GitLab sends `"image": {"name": ""}` for a job without an image.
    return image.name === "" ? undefined : image;
  }

  service(value: unknown, at: string): ImageSpec {
    const service = this.imageSpec(this.object(value, at), at);
    if (service.name === "") this.fail(child(at, "name"), "expected an image name, got an empty string");
    return service;
  }

  /** GitLab's `Image` (spec.go): the fields of `image:` and of each `services:` entry. */
  imageSpec(o: Obj, at: string): ImageSpec {
    return {
      name: this.optString(o, "name", at, ""),
      alias: this.optString(o, "alias", at, ""),
      entrypoint: this.optStrings(o, "entrypoint", at),
      command: this.optStrings(o, "command", at),
      variables: this.optArray(o, "variables", at, (v, vat) => this.variable(v, vat)),
      pullPolicy: this.optStrings(o, "pull_policy", at),
      ports: this.optArray(o, "ports", at, (v, pat) => {
        const port = this.object(v, pat);
        return {
          number: this.optInteger(port, "number", pat, 0),
          protocol: this.optString(port, "protocol", pat, ""),
          name: this.optString(port, "name", pat, ""),
        };
      }),
    };
  }

  /**
   * A `cache[]` entry. Its `policy` may be a variable (`policy: $CACHE_POLICY`, as GitLab's docs
   * suggest): gitlab-runner expands it with the job's variables, and so does this, before checking it.
   */
  cache(value: unknown, at: string, variables: readonly JobVariable[]): CacheSpec {
    const o = this.object(value, at);
    const written = this.optString(o, "policy", at, "");
    const policy = expandVariables(written, variableTable(variables));
    if (policy !== "" && !(CACHE_POLICY as readonly string[]).includes(policy)) {
      const from = policy === written ? "" : ` (from ${JSON.stringify(written)})`;
      this.fail(
        child(at, "policy"),
        `unknown cache policy ${JSON.stringify(policy)}${from}: expected "pull-push", "pull" or "push"`,
      );
    }
    return {
      key: this.optString(o, "key", at, ""),
      fallbackKeys: this.optStrings(o, "fallback_keys", at),
      paths: this.optStrings(o, "paths", at),
      policy: policy === "" ? "pull-push" : (policy as CachePolicy),
      when: this.optEnum(o, "when", at, WHEN, "on_success"),
      untracked: this.optBoolean(o, "untracked", at, false),
    };
  }

  artifact(value: unknown, at: string): ArtifactSpec {
    const o = this.object(value, at);
    return {
      name: this.optString(o, "name", at, ""),
      paths: this.optStrings(o, "paths", at),
      exclude: this.optStrings(o, "exclude", at),
      untracked: this.optBoolean(o, "untracked", at, false),
      when: this.optEnum(o, "when", at, WHEN, "on_success"),
      expireIn: this.optString(o, "expire_in", at, ""),
      artifactType: this.optString(o, "artifact_type", at, "") || "archive",
      artifactFormat: this.optString(o, "artifact_format", at, "") || "zip",
    };
  }

  dependency(value: unknown, at: string): JobDependency {
    const o = this.object(value, at);
    const file = this.optObject(o, "artifacts_file", at);
    return {
      id: this.id(o.id, child(at, "id")),
      name: this.optString(o, "name", at, ""),
      token: this.optString(o, "token", at, ""),
      hasArtifacts:
        file !== undefined && this.optString(file, "filename", child(at, "artifacts_file"), "") !== "",
    };
  }
}

/** A URL as a message may show it: without a password (GitLab puts the job token there). */
function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@]*?):[^/@]*@/i, "$1:[MASKED]@");
}
