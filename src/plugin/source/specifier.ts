/**
 * Where a plugin comes from (docs/installing-plugins.md, "Sources"), as `drover plugin install`
 * and `[runners.plugin] source` write it:
 *
 *   ./firecracker, /opt/plugins/lxd       a local file or directory
 *   https://example.com/lxd-1.2.0.tar.gz#sha256=<64 hex digits>
 *                                         a tarball, pinned by its SHA-256 (or --sha256)
 *   npm:@acme/drover-lxd@^1               a package from the npm registry, by semver range or
 *   npm:drover-telemetry                  dist-tag (default: latest)
 */
import { resolve } from "node:path";
import semver from "semver";

export type SourceSpecifier =
  | { kind: "path"; path: string }
  | { kind: "url"; url: string; sha256: string | undefined }
  | { kind: "npm"; name: string; range: string };

export class SpecifierError extends Error {}

/** npm's rules for a package name (validate-npm-package-name, for new packages). */
const NPM_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;
const SHA256 = /^[0-9a-f]{64}$/;

export function parseSpecifier(text: string, cwd = process.cwd()): SourceSpecifier {
  if (text.startsWith("npm:")) return npmSpecifier(text.slice(4), text);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return urlSpecifier(text);
  if (text === "") throw new SpecifierError("an empty plugin source");
  return { kind: "path", path: resolve(cwd, text) };
}

/** The specifier as written in a lock, without a `#sha256=` pin (the lock keeps the digest itself). */
export function specifierKey(source: SourceSpecifier): string {
  switch (source.kind) {
    case "path":
      return source.path;
    case "url":
      return source.url;
    case "npm":
      return `npm:${source.name}@${source.range}`;
  }
}

function npmSpecifier(rest: string, text: string): SourceSpecifier {
  const at = rest.indexOf("@", rest.startsWith("@") ? 1 : 0);
  const name = at === -1 ? rest : rest.slice(0, at);
  const range = at === -1 ? "latest" : rest.slice(at + 1);
  if (!NPM_NAME.test(name) || name.length > 214)
    throw new SpecifierError(
      `${JSON.stringify(text)}: ${JSON.stringify(name)} is not an npm package name (like @scope/name or name)`,
    );
  if (range === "" || (semver.validRange(range) === null && !/^[a-z][a-z0-9._-]*$/i.test(range)))
    throw new SpecifierError(
      `${JSON.stringify(text)}: ${JSON.stringify(range)} is neither a semver range (like ^1.2) nor a dist-tag (like latest)`,
    );
  return { kind: "npm", name, range };
}

function urlSpecifier(text: string): SourceSpecifier {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SpecifierError(`${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new SpecifierError(`${JSON.stringify(text)}: only https:// and http:// URLs are fetched`);
  if (url.username || url.password)
    throw new SpecifierError(
      `${JSON.stringify(text)}: a URL with a user name or password is not accepted (it would be written to the lock)`,
    );
  let sha256: string | undefined;
  if (url.hash) {
    const pin = /^#sha256=(.*)$/.exec(url.hash)?.[1]?.toLowerCase();
    if (pin === undefined || !SHA256.test(pin))
      throw new SpecifierError(
        `${JSON.stringify(text)}: the only fragment accepted is #sha256= with 64 hex digits`,
      );
    sha256 = pin;
    url.hash = "";
  }
  return { kind: "url", url: url.href, sha256 };
}

/** `--sha256 HEX`: the same rule as a `#sha256=` pin. */
export function parseSha256(text: string): string {
  const pin = text.toLowerCase();
  if (!SHA256.test(pin)) throw new SpecifierError(`--sha256 ${JSON.stringify(text)}: expected 64 hex digits`);
  return pin;
}
