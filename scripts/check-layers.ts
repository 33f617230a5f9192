/**
 * CI check (part of `npm run lint`): the folder tree is the architecture, and imports keep to it.
 *
 *   kernel/           what the core and the plugins share: generated code, protocol glue and
 *                     limits, the process module, the error type, GitLab variable expansion.
 *                     Imports only kernel/.
 *   plugins/sdk/      the public face for plugin authors (@drover/plugin-sdk): kernel/ and itself.
 *   plugins/<name>/   a built-in plugin: its own folder and @drover/plugin-sdk, nothing else of
 *                     this repository, so it can do exactly what a third-party plugin can.
 *   plugins/catalog.ts  the list of built-ins: the plugins' entry points and @drover/plugin-sdk.
 *   examples/<name>/  as a built-in plugin: its own folder and @drover/plugin-sdk.
 *   src/              the core: src/, kernel/ and plugins/catalog.ts; never a plugin's internals.
 *
 * Tests and scripts may import anything. Bare packages are not checked, except that plugins and
 * examples must reach the protocol through the SDK (`@drover/plugin-sdk`), not the repository nor
 * the protocol's own packages (@grpc/grpc-js, @bufbuild/protobuf).
 *
 *   bun scripts/check-layers.ts [ROOT]    exit 1 and one line per offending import
 *                                         (ROOT: another tree, for test/unit/check-layers.test.ts)
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(process.argv[2] ?? join(import.meta.dir, ".."));
const SDK_ENTRY = "plugins/sdk/index.ts";
const SDK_SPECIFIER = "@drover/plugin-sdk";
/** What the protocol is made of: a plugin reaches it through the SDK, which pins their versions. */
const PROTOCOL_PACKAGES = ["@grpc/grpc-js", "@bufbuild/protobuf"];

/** The layer a repository file belongs to. */
function layerOf(file: string): string {
  if (!file.includes("/")) return "root"; // package.json
  const [top, second] = file.split("/");
  if (top === "plugins") {
    if (file === "plugins/catalog.ts") return "catalog";
    return second === "sdk" ? "sdk" : `plugin:${second}`;
  }
  if (top === "examples") return `example:${second}`;
  return top ?? "";
}

/** Whether a file in `from` may import `target` (a repository path). */
function allowed(from: string, target: string): boolean {
  const layer = layerOf(target);
  switch (from.split(":")[0]) {
    case "kernel":
      return layer === "kernel";
    case "sdk":
      return layer === "sdk" || layer === "kernel";
    case "catalog":
      return layer.startsWith("plugin:") || target === SDK_ENTRY;
    case "plugin":
    case "example":
      return layer === from || target === SDK_ENTRY;
    case "src":
      return layer === "src" || layer === "kernel" || layer === "catalog" || layer === "root";
    default:
      return true;
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === "node_modules") return [];
    return statSync(path).isDirectory() ? walk(path) : /\.(ts|mts|js|mjs)$/.test(name) ? [path] : [];
  });
}

const transpiler = new Bun.Transpiler({ loader: "ts" });

/**
 * Every specifier a source imports or re-exports, type-only ones included (the transpiler's scan
 * drops `import type`, but a type from the wrong layer is a dependency all the same).
 */
function specifiers(source: string): string[] {
  const untyped = source.replace(/\b(import|export)\s+type\s+(?=\{|\*|[\w$]+\s+from)/g, "$1 ");
  return transpiler.scanImports(untyped).map((entry) => entry.path);
}
const problems: string[] = [];
for (const top of ["kernel", "src", "plugins", "examples"]) {
  let paths: string[];
  try {
    paths = walk(join(ROOT, top));
  } catch {
    continue; // a tree without this folder
  }
  for (const path of paths) {
    const file = relative(ROOT, path);
    const from = layerOf(file);
    for (const specifier of specifiers(readFileSync(path, "utf8"))) {
      let target: string | undefined;
      if (specifier === SDK_SPECIFIER) target = SDK_ENTRY;
      else if (specifier.startsWith(".")) target = relative(ROOT, resolve(dirname(path), specifier));
      else if (
        (from.startsWith("plugin:") || from.startsWith("example:")) &&
        PROTOCOL_PACKAGES.some((name) => specifier === name || specifier.startsWith(`${name}/`))
      ) {
        problems.push(
          `${file}: imports ${JSON.stringify(specifier)}: a plugin uses the protocol through ${SDK_SPECIFIER}`,
        );
        continue;
      }
      if (target !== undefined && !allowed(from, target)) {
        problems.push(
          `${file}: imports ${target}, which the ${from} layer may not (see scripts/check-layers.ts)`,
        );
      }
    }
  }
}
if (problems.length) {
  for (const problem of problems) console.error(problem);
  console.error(`${problems.length} import(s) cross a layer boundary`);
  process.exit(1);
}
console.error("layers: ok (kernel ← core, SDK ← plugins and examples)");
