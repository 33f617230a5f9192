/**
 * `[runners.plugin.settings]` of a container runner (README.md, "Settings"): the JSON Schema drover
 * checks them against before a job, and their typed form.
 */
export const SETTINGS_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  additionalProperties: false,
  properties: {
    cli: {
      enum: ["podman", "docker"],
      description: "The container CLI: podman (default) or docker, which take the same commands here.",
    },
    image: { type: "string", minLength: 1, description: "The image of a job that names none." },
    pull_policy: {
      type: "array",
      items: { enum: ["always", "if-not-present", "never"] },
      minItems: 1,
      description: "How images are had, in order of preference (default: if-not-present).",
    },
    allowed_pull_policies: {
      type: "array",
      items: { enum: ["always", "if-not-present", "never"] },
      description: "The pull policies a job may ask for (default: any).",
    },
    privileged: { type: "boolean" },
    volumes: {
      type: "array",
      items: { type: "string", pattern: "^[^:]+:/[^:]*(:(ro|rw))?$" },
      description: 'Extra mounts, "SOURCE:/path[:ro]": an absolute host path or a named volume.',
    },
    memory: { type: "string", pattern: "^[0-9]+[bkmg]?$", description: 'A memory limit, e.g. "512m".' },
    cpus: { type: "number", exclusiveMinimum: 0, description: "A CPU limit, e.g. 1.5." },
    extra_hosts: {
      type: "array",
      items: { type: "string", pattern: "^[^:]+:[0-9a-fA-F.:]+$" },
      description: '"name:ip" entries for /etc/hosts.',
    },
    runtime: { type: "string", minLength: 1, description: "The OCI runtime (--runtime), e.g. runc." },
    network_mode: {
      type: "string",
      minLength: 1,
      description:
        "A network for the job's container instead of a network of its own (host, none, a named network).",
    },
    helper_path: {
      type: "string",
      pattern: "^/",
      description:
        "The drover binary mounted read-only into the job's container for artifacts and caches (default: the drover running this plugin).",
    },
    wait_for_services_timeout: {
      type: "integer",
      minimum: 0,
      description: "Seconds to wait for each service's ports (default 30; 0: do not wait).",
    },
  },
} as const;

export type PullPolicy = "always" | "if-not-present" | "never";

export interface Settings {
  cli: "podman" | "docker";
  image: string | undefined;
  pullPolicy: PullPolicy[];
  allowedPullPolicies: PullPolicy[] | undefined;
  privileged: boolean;
  volumes: string[];
  memory: string | undefined;
  cpus: number | undefined;
  extraHosts: string[];
  runtime: string | undefined;
  networkMode: string | undefined;
  helperPath: string;
  waitForServicesSeconds: number;
}

/** The settings as drover hands them over (already checked against SETTINGS_SCHEMA). */
export function parseSettings(json: string): Settings {
  const raw = (json.trim() ? JSON.parse(json) : {}) as Record<string, unknown>;
  const list = <T>(key: string): T[] | undefined => (Array.isArray(raw[key]) ? (raw[key] as T[]) : undefined);
  const text = (key: string): string | undefined =>
    typeof raw[key] === "string" ? (raw[key] as string) : undefined;
  return {
    cli: raw.cli === "docker" ? "docker" : "podman",
    image: text("image"),
    pullPolicy: list<PullPolicy>("pull_policy") ?? ["if-not-present"],
    allowedPullPolicies: list<PullPolicy>("allowed_pull_policies"),
    privileged: raw.privileged === true,
    volumes: list<string>("volumes") ?? [],
    memory: text("memory"),
    cpus: typeof raw.cpus === "number" ? raw.cpus : undefined,
    extraHosts: list<string>("extra_hosts") ?? [],
    runtime: text("runtime"),
    networkMode: text("network_mode"),
    // On drover's runtime, this process is the drover binary itself.
    helperPath: text("helper_path") ?? process.execPath,
    waitForServicesSeconds:
      typeof raw.wait_for_services_timeout === "number" ? raw.wait_for_services_timeout : 30,
  };
}
