/**
 * Where things are, for every script and test: the repository, the compiled binary and the bun that
 * builds and runs them. Declared once so that a move (of dist/, of this folder) is one edit.
 */
import { join } from "node:path";

/** The repository's root directory. */
export const ROOT = join(import.meta.dir, "..");

/** The compiled binary: what `npm run build` (scripts/build.ts) writes and what users run. */
export const DROVER = join(ROOT, "dist", "drover");

/** The bun running this code: the pinned one in node_modules, as `npm run` and `bun test` start it. */
export const BUN = process.execPath;
