/**
 * A small argv reader: `--flag value`, `--flag=value`, boolean flags, positionals, and everything
 * after `--` kept apart (for `drover exec -- 'cmd' ...`). Unknown flags are usage errors.
 */
import { usageError } from "./usage.ts";

export interface ParsedArgs {
  values: Map<string, string>;
  /** Options that may come several times (`--path a --path b`), in order. */
  lists: Map<string, string[]>;
  flags: Set<string>;
  positionals: string[];
  /** Arguments after `--`; undefined when there was no `--`. */
  rest: string[] | undefined;
}

export function parseArgs(
  argv: readonly string[],
  spec: { values?: readonly string[]; flags?: readonly string[]; lists?: readonly string[] },
): ParsedArgs {
  const values = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const flags = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return { values, lists, flags, positionals, rest: argv.slice(i + 1) };
    if (!arg.startsWith("--") || arg === "-") {
      if (arg.startsWith("-") && arg !== "-") throw usageError(`unknown option ${JSON.stringify(arg)}`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (spec.values?.includes(name)) {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined || value === "") throw usageError(`option --${name} needs a value`);
      values.set(name, value);
    } else if (spec.lists?.includes(name)) {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined) throw usageError(`option --${name} needs a value`);
      lists.set(name, [...(lists.get(name) ?? []), value]);
    } else if (spec.flags?.includes(name) && eq === -1) {
      flags.add(name);
    } else {
      throw usageError(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  return { values, lists, flags, positionals, rest: undefined };
}

/** Removes `--log-level X` (anywhere before `--`) from argv; returns the level and the rest. */
export function takeLogLevel(argv: readonly string[]): { level: string | undefined; argv: string[] } {
  const out: string[] = [];
  let level: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    if (arg === "--log-level") {
      level = argv[++i];
      if (level === undefined) throw usageError("option --log-level needs a value");
    } else if (arg.startsWith("--log-level=")) {
      level = arg.slice("--log-level=".length);
    } else {
      out.push(arg);
    }
  }
  const levels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
  if (level !== undefined && !levels.includes(level)) {
    throw usageError(`--log-level ${JSON.stringify(level)} is not one of ${levels.join(", ")}`);
  }
  return { level, argv: out };
}
