/**
 * A plugin project's own copy of the SDK, `.drover/plugin-sdk/`, written from the one inside this
 * drover: the module (with its dependencies bundled in) for `drover plugin test`, and the
 * declarations for an editor and `tsc`. The project's tsconfig.json maps `@drover/plugin-sdk` to it,
 * so neither needs npm; `drover plugin install` ignores it and uses drover's own copy.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DroverError } from "../../../kernel/errors.ts";
import { EmbeddedFile, embeddedText } from "../runtime/embedded-files.ts";
import { embeddedSdk } from "../runtime/embedded-sdk.ts";

export const SDK_COPY_DIR = join(".drover", "plugin-sdk");

/** Replaces `<project>/.drover/plugin-sdk` with this drover's SDK. */
export async function writeSdkCopy(project: string): Promise<void> {
  const packageText = embeddedText(EmbeddedFile.sdkPackage);
  if (packageText === undefined)
    throw new DroverError(
      "internal",
      "this drover was not built with the plugin SDK's declarations (build it with npm run build)",
    );
  const files = JSON.parse(await packageText) as Record<string, string>;
  const manifest = JSON.parse(files["package.json"] ?? "{}") as Record<string, unknown>;
  // The module is drover's bundle: its dependencies are inside it.
  const { dependencies: _, ...withoutDependencies } = manifest;
  files["package.json"] = `${JSON.stringify(withoutDependencies, null, 2)}\n`;
  files["dist/index.js"] = await embeddedSdk();
  const dir = join(project, SDK_COPY_DIR);
  rmSync(dir, { recursive: true, force: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}
