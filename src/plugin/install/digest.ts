/** SHA-256 of an installed plugin's files: what is checked again before every launch. */
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Every regular file under `root` (relative path → sha256), in a stable order. Symlinks are refused. */
export function digestTree(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir).sort()) {
      const path = join(dir, entry);
      const stat = lstatSync(path);
      if (stat.isSymbolicLink())
        throw new Error(`${path} is a symbolic link; a plugin directory must hold only regular files`);
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile()) files[relative(root, path)] = sha256File(path);
    }
  };
  walk(root);
  return files;
}
