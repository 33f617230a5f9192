/**
 * `drover plugin new executor|lifecycle NAME [--dir DIR]`: a TypeScript plugin project that works
 * as written (docs/plugins.md, "Your first plugin"): the manifest, the plugin, a test that
 * `drover plugin test` runs, a tsconfig.json and package.json for type-checking with `tsc`, and the
 * SDK copied from this drover (sdk-copy.ts). The code is examples/templates/<kind>/, embedded at
 * build time, with its placeholder name replaced.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DroverError } from "../../../kernel/errors.ts";
import pkg from "../../../package.json" with { type: "json" };
import { isValidPluginName } from "../install/manifest.ts";
import { EmbeddedFile, embeddedText } from "../runtime/embedded-files.ts";
import { SDK_COPY_DIR, writeSdkCopy } from "./sdk-copy.ts";

export type TemplateKind = "executor" | "lifecycle";

/** The name each template uses, replaced by the plugin's. */
const PLACEHOLDER: Record<TemplateKind, string> = { executor: "my-executor", lifecycle: "my-lifecycle" };

export async function newPlugin(kind: TemplateKind, name: string, dir: string): Promise<string[]> {
  if (!isValidPluginName(name) || name !== name.toLowerCase())
    throw new DroverError(
      "usage",
      `plugin new: ${JSON.stringify(name)} is not a plugin name (lower-case letters, digits, ".", "_" and "-", starting with a letter or digit)`,
    );
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new DroverError("usage", `plugin new: ${dir} exists and is not empty; give another --dir`);
  const templatesText = embeddedText(EmbeddedFile.templates);
  if (templatesText === undefined)
    throw new DroverError(
      "internal",
      "this drover was not built with the plugin templates (build it with npm run build)",
    );
  const templates = JSON.parse(await templatesText) as Record<string, Record<string, string>>;
  const template = templates[kind];
  if (!template) throw new DroverError("internal", `no ${kind} template in this drover`);

  const files: Record<string, string> = {};
  for (const [path, text] of Object.entries(template)) files[path] = text.replaceAll(PLACEHOLDER[kind], name);
  Object.assign(files, projectFiles(kind, name));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  await writeSdkCopy(dir);
  return Object.keys(files).sort();
}

/** What is the same for every kind: package.json, tsconfig.json, .gitignore, README.md. */
function projectFiles(kind: TemplateKind, name: string): Record<string, string> {
  const dev = pkg.devDependencies as Record<string, string>;
  const deps = pkg.dependencies as Record<string, string>;
  const packageJson = {
    name,
    version: "0.1.0",
    private: true,
    type: "module",
    scripts: { test: "drover plugin test", check: "tsc -p ." },
    // For type-checking only (`npm install`, then `npm run check`): drover needs none of them.
    devDependencies: {
      "@bufbuild/protobuf": deps["@bufbuild/protobuf"],
      "@grpc/grpc-js": deps["@grpc/grpc-js"],
      "@types/node": dev["@types/node"],
      typescript: dev.typescript,
    },
  };
  const tsconfig = {
    compilerOptions: {
      target: "ES2022",
      module: "Preserve",
      moduleResolution: "bundler",
      lib: ["ES2023"],
      types: ["node"],
      strict: true,
      noEmit: true,
      allowImportingTsExtensions: true,
      verbatimModuleSyntax: true,
      skipLibCheck: true,
      paths: { "@drover/plugin-sdk": [`./${SDK_COPY_DIR}`] },
    },
    include: ["src"],
  };
  const main = kind === "executor" ? "src/executor.ts" : "src/lifecycle.ts";
  const readme = `# ${name}

A drover ${kind} plugin, made by \`drover plugin new ${kind} ${name}\`.

    drover plugin test             # runs src/*.test.ts on drover's runtime
    drover plugin install .        # bundles src/main.ts and installs it
    npm install && npm run check   # type-checks (needs npm; drover does not)

The plugin is in \`${main}\`. \`${SDK_COPY_DIR}/\` is the plugin SDK of the drover that made this
project; \`drover plugin test\` refreshes it, and \`drover plugin install\` always uses its own.
Then name the plugin in config.toml:

${
  kind === "executor"
    ? `    [[runners]]
      name = "${name}"
      executor = "plugin"
      [runners.plugin]
        name = "${name}"`
    : `    [[hooks.plugins]]
      name = "${name}"`
}
`;
  return {
    "package.json": `${JSON.stringify(packageJson, null, 2)}\n`,
    "tsconfig.json": `${JSON.stringify(tsconfig, null, 2)}\n`,
    ".gitignore": "node_modules/\n.drover/\n",
    "README.md": readme,
  };
}
