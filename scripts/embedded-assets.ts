/**
 * The files scripts/build.ts embeds into dist/drover (src/plugin/runtime/embedded-files.ts), made
 * from this repository into dist/embedded/:
 *
 *   the SDK module       plugins/sdk bundled with its dependencies (what plugins are bundled against)
 *   the SDK package      its package.json, README and declarations, from plugins/sdk/build.ts
 *   the templates        examples/templates/<kind>/ (what `drover plugin new` writes)
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { EmbeddedFile } from "../src/plugin/runtime/embedded-files.ts";
import { bundleSdk } from "../src/plugin/runtime/embedded-sdk.ts";
import { BUN, ROOT } from "./paths.ts";

/** Writes the embedded files into `dir`; returns their paths, for `bun build --compile`. */
export async function writeEmbeddedAssets(dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const sdk = join(dir, EmbeddedFile.sdk);
  writeFileSync(sdk, await bundleSdk());
  const sdkPackage = join(dir, EmbeddedFile.sdkPackage);
  writeFileSync(sdkPackage, JSON.stringify(sdkPackageFiles()));
  const templates = join(dir, EmbeddedFile.templates);
  const root = join(ROOT, "examples", "templates");
  const byKind = Object.fromEntries(
    readdirSync(root)
      .filter((kind) => statSync(join(root, kind)).isDirectory())
      .map((kind) => [kind, filesOf(join(root, kind))]),
  );
  writeFileSync(templates, JSON.stringify(byKind));
  return [sdk, sdkPackage, templates];
}

/** package.json, README.md and every .d.ts of the SDK's npm package, as plugins/sdk/build.ts makes it. */
function sdkPackageFiles(): Record<string, string> {
  const out = mkdtempSync(join(tmpdir(), "drover-sdk-package-"));
  try {
    execFileSync(BUN, [join(ROOT, "plugins", "sdk", "build.ts"), "--outdir", out], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "inherit"],
    });
    const files = filesOf(out);
    return Object.fromEntries(
      Object.entries(files).filter(
        ([path]) => path === "package.json" || path === "README.md" || path.endsWith(".d.ts"),
      ),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function filesOf(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files[relative(root, path)] = readFileSync(path, "utf8");
    }
  };
  walk(root);
  return files;
}
