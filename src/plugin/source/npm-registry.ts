/**
 * Which tarball an `npm:NAME@RANGE` source means, asked of an npm registry (registry.npmjs.org,
 * Verdaccio, Artifactory, GitHub Packages: the registry API npm itself uses). The package document
 * is fetched abbreviated (`application/vnd.npm.install-v1+json`), the version picked as npm picks it
 * (npm-pick-manifest): the `latest` dist-tag when it satisfies the range, else the highest
 * satisfying version; a dist-tag names its version. The registry's `dist.integrity` (sha512) is
 * what the tarball is checked against and what the lock records; a version without one is refused.
 */
import semver from "semver";
import { type DownloadOptions, download } from "./download.ts";
import { formatIntegrity, type Integrity, parseIntegrity } from "./integrity.ts";

export const DEFAULT_REGISTRY = "https://registry.npmjs.org/";

export class RegistryError extends Error {}

export interface ResolvedPackage {
  name: string;
  version: string;
  tarball: string;
  integrity: Integrity;
}

interface Packument {
  "dist-tags"?: Record<string, string>;
  versions?: Record<string, { dist?: { tarball?: string; integrity?: string } }>;
}

export interface Registry {
  /** With a trailing slash. */
  url: string;
  /** A bearer token for a private registry, sent to its origin only. */
  token?: string;
}

export function registryOptions(registry: Registry): DownloadOptions {
  return registry.token ? { auth: { origin: new URL(registry.url).origin, token: registry.token } } : {};
}

export async function resolvePackage(
  registry: Registry,
  name: string,
  range: string,
): Promise<ResolvedPackage> {
  // A scoped name's slash is escaped, as npm sends it: /@scope%2fname.
  const url = new URL(name.replace("/", "%2f"), registry.url).href;
  let packument: Packument;
  try {
    const bytes = await download(url, {
      ...registryOptions(registry),
      headers: { Accept: "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8" },
    });
    const parsed: unknown = JSON.parse(Buffer.from(bytes).toString("utf8"));
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new SyntaxError("not an object");
    packument = parsed as Packument;
  } catch (err) {
    const message = (err as Error).message;
    if (/ answered 404\b/.test(message))
      throw new RegistryError(`the npm registry ${registry.url} has no package ${name}`);
    throw new RegistryError(
      err instanceof SyntaxError
        ? `the npm registry ${registry.url} answered ${url} with something that is not a package document (JSON)`
        : `cannot ask the npm registry ${registry.url} for ${name}: ${message}`,
    );
  }
  const versions = Object.keys(packument.versions ?? {}).filter((v) => semver.valid(v));
  const tags = packument["dist-tags"] ?? {};
  const version = pickVersion(versions, tags, range);
  if (version === undefined) {
    const known = versions.sort(semver.compare).slice(-10).join(", ") || "none";
    throw new RegistryError(
      `the npm registry ${registry.url} has no version of ${name} matching ${JSON.stringify(range)} (versions: ${known})`,
    );
  }
  const dist = packument.versions?.[version]?.dist;
  const integrity = dist?.integrity ? parseIntegrity(dist.integrity) : undefined;
  if (!dist?.tarball || integrity?.algorithm !== "sha512")
    throw new RegistryError(
      `the npm registry ${registry.url} gives no ${dist?.tarball ? "sha512 integrity" : "tarball"} for ${name}@${version}; drover installs only what it can verify`,
    );
  return { name, version, tarball: dist.tarball, integrity };
}

/** npm's choice (npm-pick-manifest, without prereleases unless the range asks for them). */
export function pickVersion(
  versions: string[],
  tags: Record<string, string>,
  range: string,
): string | undefined {
  if (semver.validRange(range) === null) {
    const tagged = tags[range];
    return tagged !== undefined && versions.includes(tagged) ? tagged : undefined;
  }
  const latest = tags.latest;
  if (latest !== undefined && versions.includes(latest) && semver.satisfies(latest, range)) return latest;
  return semver.maxSatisfying(versions, range) ?? undefined;
}

export function describeResolved(resolved: ResolvedPackage): string {
  return `${resolved.name}@${resolved.version} (${resolved.tarball}, ${formatIntegrity(resolved.integrity)})`;
}
