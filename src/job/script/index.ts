/** Bash scripts for the run stages: one complete script per planned stage. */

export { fileVariablePath, quote, ScriptWriter, shellWord } from "./bash.ts";
export { cacheKey, writeArchiveCache, writeRestoreCache } from "./cache.ts";
export { clearWorktreeScript } from "./clear-worktree.ts";
export { type GitStrategy, gitStrategy, writeGetSources } from "./git.ts";
export { renderStageScript } from "./stages.ts";
