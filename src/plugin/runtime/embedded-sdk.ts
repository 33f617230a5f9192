/**
 * The plugin SDK as drover carries it: `@drover/plugin-sdk` (plugins/sdk) bundled with its
 * dependencies (@grpc/grpc-js, @bufbuild/protobuf) into one JavaScript module. `drover plugin install`
 * bundles a TypeScript or JavaScript plugin against this copy (bundle-plugin.ts), so that a host
 * with only drover on it needs no npm, no node_modules and no network to install one, and the SDK a
 * plugin gets is always the one that speaks this binary's protocol.
 *
 * scripts/build.ts writes the module to dist/embedded/ and embeds it into the executable as a file
 * (`Bun.embeddedFiles`); running from the repository (`bun src/main.ts`), it is bundled from the
 * SDK's sources on first use.
 */
import { join } from "node:path";
import { EmbeddedFile, embeddedText } from "./embedded-files.ts";

/** The specifier plugins import the SDK by. */
export const SDK_SPECIFIER = "@drover/plugin-sdk";

const SDK_ENTRY = join(import.meta.dir, "..", "..", "..", "plugins", "sdk", "index.ts");

let cached: Promise<string> | undefined;

/** The SDK module's source: the embedded copy, or one bundled from the repository's sources. */
export function embeddedSdk(): Promise<string> {
  cached ??= embeddedText(EmbeddedFile.sdk) ?? bundleSdk();
  return cached;
}

/** Bundles plugins/sdk/index.ts with everything it imports (node: and bun: modules stay imports). */
export async function bundleSdk(): Promise<string> {
  const result = await Bun.build({ entrypoints: [SDK_ENTRY], target: "bun", format: "esm", throw: false });
  const output = result.outputs[0];
  if (!result.success || !output)
    throw new Error(`bundling the plugin SDK (${SDK_ENTRY}) failed: ${result.logs.join("; ")}`);
  return output.text();
}
