/**
 * Builds the SDK as its own npm package (`@drover/plugin-sdk`):
 *
 *   dist/index.js, dist/merge-output.js   ESM for Node >= 20 (and Bun); the SDK's imports from the
 *                                         repository (src/gen, src/protocol) are bundled in;
 *                                         @grpc/grpc-js and @bufbuild/protobuf stay dependencies.
 *   dist/index.d.ts, dist/merge-output.d.ts + dist/types/   declarations, emitted by tsc with
 *                                         tsconfig.build.json (types: node only, so Bun-only API
 *                                         fails the build).
 *
 *   node_modules/.bin/bun plugins/sdk/build.ts [--outdir DIR] [--no-types]
 *   npm publish dist/plugin-sdk
 *
 * DIR (default: dist/plugin-sdk, beside dist/drover) becomes a complete package directory:
 * package.json (without its `scripts`, which only make sense here), README.md and dist/.
 * It is not built inside plugins/sdk: the linter and the type check cover plugins/, and generated
 * JavaScript has no place there. test/sdk-node builds into a temp dir.
 *
 * Run with bun (the bundler is `bun build`); the script itself uses Node APIs only.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const SDK = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(SDK, "..", "..");
const ENTRIES = ["index", "merge-output"];

const { values } = parseArgs({
  options: { outdir: { type: "string" }, "no-types": { type: "boolean", default: false } },
});
const outdir = resolve(values.outdir ?? join(ROOT, "dist", "plugin-sdk"));
const dist = join(outdir, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const run = (command: string, args: string[]) =>
  execFileSync(command, args, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });

// JavaScript: one self-contained module per entry; bare imports (the two dependencies, node:*) stay.
run(process.execPath, [
  "build",
  ...ENTRIES.map((entry) => join(SDK, `${entry}.ts`)),
  "--target=node",
  "--format=esm",
  "--packages=external",
  "--root",
  SDK,
  "--outdir",
  dist,
]);

if (!values["no-types"]) {
  // Declarations mirror the repository's layout under dist/types (the SDK re-exports generated
  // types from src/gen); dist/<entry>.d.ts points at them.
  run(join(ROOT, "node_modules", ".bin", "tsc"), [
    "-p",
    join(SDK, "tsconfig.build.json"),
    "--outDir",
    join(dist, "types"),
  ]);
  // The SDK's sources import `./x.ts` (allowImportingTsExtensions) and the generated code `./x`
  // (buf's default): a published .d.ts must say `./x.js`, which every consumer's moduleResolution
  // (node16/nodenext included) resolves to x.d.ts.
  for (const file of walk(join(dist, "types"))) {
    if (!file.endsWith(".d.ts")) continue;
    const text = readFileSync(file, "utf8");
    writeFileSync(
      file,
      text.replace(
        /(from\s+["'])(\.{1,2}\/[^"']*?)(\.ts|\.js)?(["'])/g,
        (_, open: string, path: string, _ext, close: string) => `${open}${path}.js${close}`,
      ),
    );
  }
  for (const entry of ENTRIES) {
    writeFileSync(join(dist, `${entry}.d.ts`), `export * from "./types/plugins/sdk/${entry}.js";\n`);
  }
}

const { scripts: _, ...manifest } = JSON.parse(readFileSync(join(SDK, "package.json"), "utf8"));
writeFileSync(join(outdir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
copyFileSync(join(SDK, "README.md"), join(outdir, "README.md"));
console.error(`built ${outdir}`);

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}
