/**
 * Files scripts/build.ts embeds into the drover executable (`Bun.embeddedFiles`): what `drover
 * plugin install` bundles plugins against, and what `drover plugin new` writes. Each is built
 * from this repository at build time; running from the repository (`bun src/main.ts`), only the
 * SDK module can be made on the spot (embedded-sdk.ts).
 */
export const EmbeddedFile = {
  /** plugins/sdk bundled with its dependencies into one ES module (embedded-sdk.ts). */
  sdk: "drover-plugin-sdk.bundle",
  /** The SDK's package.json, README and declarations (`.d.ts`), as JSON `{ path: text }`. */
  sdkPackage: "drover-plugin-sdk-package.bundle",
  /** examples/templates/<kind>/..., as JSON `{ kind: { path: text } }`. */
  templates: "drover-plugin-templates.bundle",
} as const;

export type EmbeddedFileName = (typeof EmbeddedFile)[keyof typeof EmbeddedFile];

/** An embedded file's text; undefined when this drover was not built with it (running from source). */
export function embeddedText(name: EmbeddedFileName): Promise<string> | undefined {
  const [stem, extension] = name.split(".") as [string, string];
  // Bun adds a content hash before the extension.
  const pattern = new RegExp(`^${stem}(-[a-z0-9]+)?\\.${extension}$`);
  const file = Bun.embeddedFiles.find((blob) => pattern.test((blob as Blob & { name: string }).name));
  return file?.text();
}
