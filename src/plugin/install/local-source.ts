/**
 * What a local plugin source holds, and so how it is installed (docs/installing-plugins.md): an
 * executable file, copied as is; a directory whose drover-plugin.toml names its executable, copied
 * as is; or a TypeScript or JavaScript entry (a file, or a directory's manifest `main`), bundled
 * into one file for drover's runtime (runtime/bundle-plugin.ts).
 */
import {
  chmodSync,
  closeSync,
  cpSync,
  existsSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, extname, join } from "node:path";
import { DroverError } from "../../../kernel/errors.ts";
import { BUNDLE_FILE, bundlePlugin } from "../runtime/bundle-plugin.ts";
import { MANIFEST_FILE, type Manifest, readManifest } from "./manifest.ts";

/** What a local path holds, and so how it is installed (docs/installing-plugins.md, "Sources"). */
export type LocalSource =
  /** An executable file, copied as is. */
  | { kind: "file"; file: string }
  /** A directory with a manifest naming its executable, copied as is. */
  | { kind: "directory"; dir: string; manifest: Manifest; executable: string }
  /** A TypeScript or JavaScript entry (a file, or a directory's manifest `main`), bundled. */
  | {
      kind: "script";
      entry: string;
      manifest: Manifest | undefined;
      /** A downloaded package's directory: its imports must stay inside it (bundle-plugin.ts). */
      confineTo?: string;
    };

/** What a script plugin's entry may be called; a file with a `#!` line is an executable instead. */
const SCRIPT_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs", ".jsx"]);

export function localSource(source: string): LocalSource {
  if (!statSync(source).isDirectory()) {
    return SCRIPT_EXTENSIONS.has(extname(source)) && !startsWithShebang(source)
      ? { kind: "script", entry: source, manifest: undefined }
      : { kind: "file", file: source };
  }
  const manifest = readManifest(source);
  const file = join(source, MANIFEST_FILE);
  const { program } = manifest;
  if (program.kind === "platforms")
    throw new DroverError(
      "usage",
      `invalid plugin manifest ${file}: platform_packages names npm packages; install this plugin as npm:PACKAGE from its registry, or install the directory of the package for this host`,
      { file },
    );
  const key = program.kind === "executable" ? "executable" : "main";
  const relativePath = program.kind === "executable" ? program.executable : program.main;
  const path = join(source, relativePath);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new DroverError(
      "usage",
      `invalid plugin manifest ${file}: ${key} ${JSON.stringify(relativePath)} is not a file in ${source}`,
      { file },
    );
  }
  return program.kind === "executable"
    ? { kind: "directory", dir: source, manifest, executable: relativePath }
    : { kind: "script", entry: path, manifest };
}

function startsWithShebang(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head.toString() === "#!";
  } finally {
    closeSync(fd);
  }
}

/** Puts what gets installed into `staging`; returns the executable's (or script's) name in it. */
export async function stage(local: LocalSource, staging: string): Promise<string> {
  switch (local.kind) {
    case "file":
      cpSync(local.file, join(staging, basename(local.file)));
      return basename(local.file);
    case "directory":
      rejectSymlinks(local.dir);
      cpSync(local.dir, staging, { recursive: true });
      // The manifest says it is the program: a tarball may have lost its execute bit.
      chmodSync(join(staging, local.executable), 0o755);
      return local.executable;
    case "script":
      writeFileSync(
        join(staging, BUNDLE_FILE),
        await bundlePlugin(local.entry, local.confineTo === undefined ? {} : { confineTo: local.confineTo }),
        { mode: 0o644 },
      );
      return BUNDLE_FILE;
  }
}

function rejectSymlinks(root: string): void {
  for (const entry of readdirSync(root, { recursive: true }) as string[]) {
    if (lstatSync(join(root, entry)).isSymbolicLink()) {
      throw new DroverError(
        "usage",
        `cannot install ${root}: ${entry} is a symbolic link; a plugin directory must hold only regular files`,
      );
    }
  }
}
