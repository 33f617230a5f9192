/**
 * The configuration module: which config.toml to read, what it means, and what is wrong with it
 * (SPEC §3 lookup, §4 format, §7 custom executor settings, §8 hooks).
 */
export { type CheckResult, checkConfigText } from "./check.ts";
export { type LoadOptions, type LoadResult, loadConfig } from "./load.ts";
export { type KeyLines, type KeyPath, locateKeys } from "./locate.ts";
export { type ConfigLocation, type LookupInput, lookupConfig } from "./lookup.ts";
export * from "./model.ts";
export { formatProblem } from "./problems.ts";
export { starterConfig } from "./starter.ts";
