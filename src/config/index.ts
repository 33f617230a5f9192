/**
 * The configuration module: which config.toml to read, what it means, and what is wrong with it
 * (README.md, "Usage"; docs/configuration.md; docs/custom-executor.md; docs/hooks.md).
 */
export { type CheckResult, checkConfigText } from "./check.ts";
export { type LoadOptions, type LoadResult, loadConfig } from "./load.ts";
export { type KeyLines, type KeyPath, locateKeys } from "./locate.ts";
export { type ConfigLocation, type LookupInput, lookupConfig } from "./lookup.ts";
export * from "./model.ts";
export { formatProblem } from "./problems.ts";
export { starterConfig } from "./starter.ts";
