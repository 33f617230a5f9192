/**
 * The environment of every driver call (docs/custom-executor.md, GitLab Runner's custom.go prepareCommand and
 * command.New), in this order, a later entry overriding an earlier one of the same name:
 *
 *   1. the host environment (the plugin's own, which drover scrubbed when it launched the plugin);
 *   2. TMPDIR, BUILD_FAILURE_EXIT_CODE=1, SYSTEM_FAILURE_EXIT_CODE=2, BUILD_EXIT_CODE_FILE,
 *      JOB_RESPONSE_FILE;
 *   3. the `job_env` pairs config_exec printed;
 *   4. CUSTOM_ENV_<KEY> for every job variable (predefined ones included), values expanded as
 *      GitLab's `GetAllVariables().Expand()` does, masked ones in clear, file variables as their
 *      contents;
 *   5. CUSTOM_ENV_CI_JOB_IMAGE (the expanded image name, when the job has an image) and
 *      CUSTOM_ENV_CI_JOB_SERVICES (a JSON array; "" when the job has no services, as GitLab);
 *   6. CUSTOM_ENV_CI_JOB_STATUS as the core gives it for this call (Run's and Cleanup's
 *      `job_status`): "running" until after_script, then the job's outcome.
 */
import { expandAll, expandVariables, type Image, type Variable, variableTable } from "@drover/plugin-sdk";
import { BUILD_FAILURE_EXIT_CODE, SYSTEM_FAILURE_EXIT_CODE } from "./exit-status.ts";
import type { JobDir } from "./job-dir.ts";

type JobVariable = Pick<Variable, "key" | "value" | "masked" | "file" | "public" | "raw">;

export interface DriverEnvInput {
  host: Record<string, string | undefined>;
  dir: JobDir;
  jobEnv: Record<string, string>;
  variables: readonly JobVariable[];
  image: Image | undefined;
  services: readonly Image[];
  /** CI_JOB_STATUS for this call, when the core sent one. */
  jobStatus?: string;
}

export function driverEnv(input: DriverEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  const set = (key: string, value: string) => {
    // A name or value the OS cannot carry would make the whole spawn fail.
    if (key === "" || key.includes("=") || key.includes("\0") || value.includes("\0")) return;
    env[key] = value;
  };
  for (const [key, value] of Object.entries(input.host)) if (value !== undefined) set(key, value);
  set("TMPDIR", input.dir.path);
  set("BUILD_FAILURE_EXIT_CODE", String(BUILD_FAILURE_EXIT_CODE));
  set("SYSTEM_FAILURE_EXIT_CODE", String(SYSTEM_FAILURE_EXIT_CODE));
  set("BUILD_EXIT_CODE_FILE", input.dir.buildExitCodeFile);
  set("JOB_RESPONSE_FILE", input.dir.responseFile);
  for (const [key, value] of Object.entries(input.jobEnv)) set(key, value);
  const variables = expandAll(input.variables.map(asJobVariable));
  for (const v of variables) set(`CUSTOM_ENV_${v.key}`, v.value);
  const table = variableTable(variables);
  if (input.image?.name) set("CUSTOM_ENV_CI_JOB_IMAGE", expandVariables(input.image.name, table));
  // GitLab's value when the job has no services is the empty string, not `[]`.
  set(
    "CUSTOM_ENV_CI_JOB_SERVICES",
    input.services.length ? servicesJson(input.services, (s) => expandVariables(s, table)) : "",
  );
  if (input.jobStatus) set("CUSTOM_ENV_CI_JOB_STATUS", input.jobStatus);
  return env;
}

/**
 * GitLab's `CI_JOB_SERVICES`: `{name, alias, entrypoint, command}` per service, alias the first of
 * the service's aliases (or ""), entrypoint/command `null` when not set. drover adds `variables`
 * (`[{key, value}]`) for a service that has any.
 */
export function servicesJson(services: readonly Image[], expand: (s: string) => string): string {
  return JSON.stringify(
    services.map((service) => ({
      name: expand(service.name),
      alias: firstAlias(expand(service.alias)),
      entrypoint: service.entrypoint.length ? service.entrypoint : null,
      command: service.command.length ? service.command : null,
      ...(service.variables.length
        ? { variables: service.variables.map(({ key, value }) => ({ key, value })) }
        : {}),
    })),
  );
}

/** GitLab's `Image.Aliases()`: the alias field holds several, separated by commas or spaces. */
function firstAlias(alias: string): string {
  return alias.split(/[\s,]+/).find((a) => a !== "") ?? "";
}

function asJobVariable(v: JobVariable) {
  return { key: v.key, value: v.value, masked: v.masked, file: v.file, public: v.public, raw: v.raw };
}
