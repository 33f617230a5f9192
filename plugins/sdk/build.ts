/**
 * Builds the SDK as its own npm package (`@drover/plugin-sdk`):
 *
 *   dist/index.js      ESM for Node >= 20 (and Bun); what the SDK takes from drover's kernel
 *                      (generated protocol code, protocol glue, the process module) is bundled in;
 *                      @grpc/grpc-js and @bufbuild/protobuf stay dependencies.
 *   dist/index.d.ts    declarations, emitted by tsc with tsconfig.build.json (types: node only, so a
 *   dist/*.d.ts        Bun-only API fails the build), laid out as the package is, not as this
 *   dist/kernel/       repository is: the SDK's own files at the top, the kernel's below kernel/.
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
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const SDK = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(SDK, "..", "..");
const ENTRIES = ["index"];

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
  // tsc mirrors the repository (plugins/sdk/*.d.ts, kernel/**/*.d.ts) in a scratch dir; each file
  // then moves to where the package wants it and its relative imports are rewritten to match.
  const emitted = join(outdir, ".types");
  rmSync(emitted, { recursive: true, force: true });
  run(join(ROOT, "node_modules", ".bin", "tsc"), [
    "-p",
    join(SDK, "tsconfig.build.json"),
    "--outDir",
    emitted,
  ]);
  const place = (file: string): string => {
    const inRepo = relative(emitted, file);
    if (inRepo.startsWith(`plugins${sep}sdk${sep}`))
      return join(dist, relative(join("plugins", "sdk"), inRepo));
    if (inRepo.startsWith(`kernel${sep}`)) return join(dist, inRepo);
    throw new Error(`build: tsc emitted ${inRepo}, outside plugins/sdk and kernel`);
  };
  for (const file of walk(emitted)) {
    if (!file.endsWith(".d.ts")) continue;
    const target = place(file);
    // The sources import `./x.ts` (allowImportingTsExtensions) and generated code `./x` (buf's
    // default): a published .d.ts says `./x.js`, which every consumer's moduleResolution
    // (node16/nodenext included) resolves to x.d.ts.
    const text = readFileSync(file, "utf8").replace(
      /((?:from\s+|import\(\s*)["'])(\.{1,2}\/[^"']*?)(\.ts|\.js)?(["'])/g,
      (_, open: string, specifier: string, _ext, close: string) => {
        const imported = place(`${resolve(dirname(file), specifier)}.d.ts`).replace(/\.d\.ts$/, ".js");
        const path = relative(dirname(target), imported);
        return `${open}${path.startsWith(".") ? path : `./${path}`}${close}`;
      },
    );
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, text);
  }
  rmSync(emitted, { recursive: true, force: true });
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
