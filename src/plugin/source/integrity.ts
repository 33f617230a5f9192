/**
 * Subresource-integrity strings (`sha512-<base64>`, as npm's `dist.integrity` and package-lock.json
 * write them), which the plugin lock keeps for every downloaded source: a URL pinned by SHA-256 is
 * recorded as `sha256-<base64>` of the same digest.
 */
import { createHash } from "node:crypto";

export type Algorithm = "sha256" | "sha512";

export interface Integrity {
  algorithm: Algorithm;
  /** The digest, base64 as in SRI. */
  digest: string;
}

/** The strongest sha512 or sha256 entry of an SRI string (entries are space-separated); undefined if none. */
export function parseIntegrity(text: string): Integrity | undefined {
  const entries = text
    .trim()
    .split(/\s+/)
    .map((entry) => /^(sha256|sha512)-([A-Za-z0-9+/]+={0,2})(\?.*)?$/.exec(entry))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ algorithm: m[1] as Algorithm, digest: m[2]! }));
  return entries.find((e) => e.algorithm === "sha512") ?? entries.find((e) => e.algorithm === "sha256");
}

export function formatIntegrity(integrity: Integrity): string {
  return `${integrity.algorithm}-${integrity.digest}`;
}

export function sha256HexIntegrity(hex: string): Integrity {
  return { algorithm: "sha256", digest: Buffer.from(hex, "hex").toString("base64") };
}

export function integrityOfBytes(bytes: Uint8Array, algorithm: Algorithm): Integrity {
  return { algorithm, digest: createHash(algorithm).update(bytes).digest("base64") };
}

/** Whether `bytes` have `expected`'s digest. */
export function matches(bytes: Uint8Array, expected: Integrity): boolean {
  return integrityOfBytes(bytes, expected.algorithm).digest === expected.digest;
}
