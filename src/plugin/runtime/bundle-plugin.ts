/**
 * A TypeScript or JavaScript plugin, bundled for drover's embedded runtime: its entry and
 * everything it imports become one ES module, `plugin.js`, which is what gets installed, hashed,
 * locked and run (docs/installing-plugins.md, "TypeScript and JavaScript plugins").
 *
 *  - `@drover/plugin-sdk` is the copy embedded in this binary (embedded-sdk.ts), whatever the
 *    plugin's own node_modules hold: the SDK always matches the protocol of the drover that runs it.
 *  - Any other package comes from the plugin's node_modules, as a bundler finds it; one that is not
 *    there fails the install, naming the file and line that import it. Nothing is fetched.
 *  - `node:` and `bun:` modules are the runtime's own and stay imports.
 *  - Whitespace and syntax are minified (a smaller bundle starts faster), names are not, so that a
 *    plugin's stack trace in drover's log still says which function failed.
 */
import { realpathSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, sep } from "node:path";
import type { BunPlugin } from "bun";
import { DroverError } from "../../../kernel/errors.ts";
import { embeddedSdk, SDK_SPECIFIER } from "./embedded-sdk.ts";

/** What an installed script plugin's one file is called. */
export const BUNDLE_FILE = "plugin.js";

/** How many of the bundler's messages an error shows. */
const MESSAGES_SHOWN = 5;

/**
 * `confineTo`: a downloaded package's directory. Everything the plugin imports must be inside it
 * (its own files, the node_modules it ships): a bundler looks for packages in every parent
 * directory too, and what another user left in `/tmp/node_modules` must not end up in a bundle
 * locked as the registry's package.
 */
export async function bundlePlugin(entry: string, options: { confineTo?: string } = {}): Promise<string> {
  const sdk = await embeddedSdk();
  const embedded: BunPlugin = {
    name: "drover-embedded-sdk",
    setup(build) {
      const exact = new RegExp(`^${SDK_SPECIFIER.replace(/[/.]/g, "\\$&")}$`);
      build.onResolve({ filter: exact }, () => ({ path: SDK_SPECIFIER, namespace: "drover-embedded" }));
      build.onLoad({ filter: /.*/, namespace: "drover-embedded" }, () => ({ contents: sdk, loader: "js" }));
    },
  };
  const plugins = [embedded];
  if (options.confineTo !== undefined) plugins.push(confined(options.confineTo));
  let result: Bun.BuildOutput;
  try {
    result = await Bun.build({
      entrypoints: [entry],
      target: "bun",
      format: "esm",
      minify: { whitespace: true, syntax: true, identifiers: true, keepNames: true },
      plugins,
      throw: false,
    });
  } catch (err) {
    throw bundleError(entry, [(err as Error).message]);
  }
  const output = result.outputs.find((o) => o.kind === "entry-point");
  if (!result.success || !output) {
    const errors = result.logs.filter((log) => log.level === "error");
    throw bundleError(entry, (errors.length ? errors : result.logs).map(describeLog));
  }
  return output.text();
}

function confined(directory: string): BunPlugin {
  const root = realpathSync(directory);
  return {
    name: "drover-confined",
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        if (args.path === SDK_SPECIFIER || args.path.startsWith("node:") || args.path.startsWith("bun:"))
          return;
        if (isBuiltin(args.path)) return;
        let resolved: string;
        try {
          resolved =
            args.kind === "entry-point-build"
              ? args.path
              : Bun.resolveSync(args.path, dirname(args.importer));
        } catch {
          return; // the bundler reports it as unresolved, naming the file and line
        }
        if (resolved !== root && !resolved.startsWith(`${root}${sep}`))
          throw new Error(
            `${args.importer}: ${JSON.stringify(args.path)} is ${resolved}, outside the package; a downloaded plugin may import only what it ships`,
          );
      });
    },
  };
}

function describeLog(log: BuildMessage | ResolveMessage): string {
  const at = log.position ? `${log.position.file}:${log.position.line}:${log.position.column}: ` : "";
  // Bun's hint names a tool the host may not have; bundleError gives drover's.
  return `${at}${log.message.replace(/\s*Maybe you need to "bun install"\?$/, "")}`;
}

function bundleError(entry: string, messages: string[]): DroverError {
  const shown = messages.slice(0, MESSAGES_SHOWN);
  const more = messages.length > shown.length ? ` (and ${messages.length - shown.length} more)` : "";
  const unresolved = messages.some((m) => m.includes("Could not resolve"));
  const hint = unresolved
    ? ` (packages other than ${SDK_SPECIFIER} come from the plugin's own node_modules: install them there first, e.g. npm install)`
    : "";
  return new DroverError(
    "usage",
    `cannot install ${entry}: bundling it for drover's runtime failed: ${shown.join("; ") || "the bundler gave no reason"}${more}${hint}`,
    { file: entry },
  );
}
