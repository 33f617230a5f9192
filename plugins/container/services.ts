/**
 * A job's `services:` as GitLab's docker executor runs them: each in a container of its own on the
 * job's network, reachable by its aliases (from its image name, `postgres:15` → `postgres`,
 * `tutum/wordpress` → `tutum-wordpress` and `tutum__wordpress`, and by every `alias`), with the
 * job's variables and its own; waited for on its ports (HEALTHCHECK_TCP_PORT, else the ports its
 * image exposes) from the job's container, as GitLab's health check connects from the job's side;
 * a service that does not answer is a warning with its logs, not a failure. With
 * CI_DEBUG_SERVICES=true its output goes into the job log as `[service:NAME-ALIAS] line`.
 */
import type { Image } from "@drover/plugin-sdk";
import type { ContainerCli } from "./cli.ts";

export interface ServiceSpec {
  image: Image;
  index: number;
  aliases: string[];
  container: string;
}

/** GitLab's aliases of a service: from its image name, then its own. */
export function serviceAliases(image: Image): string[] {
  const withoutTag = image.name.replace(/@.*$/, "").replace(/:[^/:]*$/, "");
  // A registry's port cannot be in a DNS name: `host:5000/db` gives `host-5000-db`.
  const derived = [withoutTag.replace(/[/:]/g, "-"), withoutTag.replaceAll("/", "__")];
  const own = image.alias.split(/[\s,]+/).filter(Boolean);
  return [...new Set([...derived, ...own])].filter((alias) => /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(alias));
}

/** The TCP ports to wait for: HEALTHCHECK_TCP_PORT, the ports the job gives, else the image's. */
export async function servicePorts(
  cli: ContainerCli,
  service: Image,
  jobVariables: Map<string, string>,
): Promise<number[]> {
  const own = new Map(service.variables.map((v) => [v.key, v.value]));
  const healthcheck = own.get("HEALTHCHECK_TCP_PORT") ?? jobVariables.get("HEALTHCHECK_TCP_PORT");
  if (healthcheck && /^\d+$/.test(healthcheck)) return [Number(healthcheck)];
  if (service.ports.length) return service.ports.map((p) => p.number).filter((n) => n > 0);
  const exposed = await cli
    .run(["image", "inspect", "--format", "{{json .Config.ExposedPorts}}", service.name])
    .catch(() => "null");
  const ports = JSON.parse(exposed || "null") as Record<string, unknown> | null;
  return Object.keys(ports ?? {})
    .filter((key) => key.endsWith("/tcp") || !key.includes("/"))
    .map((key) => Number.parseInt(key, 10))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => a - b);
}

/** `run` arguments of a service container (the image and its command last); its variables are in `envFile`. */
export function serviceRunArgs(
  spec: ServiceSpec,
  network: string,
  labels: string[],
  envFile: string,
): string[] {
  const args = ["run", "-d", "--name", spec.container, "--network", network, ...labels];
  for (const alias of spec.aliases) args.push("--network-alias", alias);
  args.push("--env-file", envFile);
  const [entry, ...entryRest] = spec.image.entrypoint;
  if (entry !== undefined) args.push("--entrypoint", entry);
  args.push(spec.image.name, ...entryRest, ...spec.image.command);
  return args;
}

/**
 * Waits until `alias:port` accepts a connection, trying from inside the job's container (bash's
 * /dev/tcp: the job's image has bash, which its stage scripts need anyway).
 */
export async function waitForPort(
  cli: ContainerCli,
  jobContainer: string,
  alias: string,
  port: number,
  seconds: number,
): Promise<boolean> {
  const probe =
    'end=$((SECONDS + $3)); while :; do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && exit 0; ((SECONDS >= end)) && exit 1; sleep 0.2; done';
  return cli.succeeds([
    "exec",
    jobContainer,
    "bash",
    "-c",
    probe,
    "wait-for-service",
    alias,
    String(port),
    String(seconds),
  ]);
}
