/** `drover init [--force] [PATH]`: write a commented starter config.toml (default ./config.toml). */
import { existsSync, writeFileSync } from "node:fs";
import { DroverError } from "../../kernel/errors.ts";
import { starterConfig } from "../config/starter.ts";
import { ExitStatus } from "../exit-status.ts";
import { parseArgs } from "./args.ts";
import { usageError } from "./usage.ts";

export async function initCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { flags: ["force"] });
  if (args.positionals.length > 1) throw usageError("init takes at most one path");
  const path = args.positionals[0] ?? "config.toml";
  if (existsSync(path) && !args.flags.has("force")) {
    throw new DroverError("usage", `${path} already exists; use --force to overwrite it`);
  }
  writeFileSync(path, starterConfig(), { mode: 0o600 });
  process.stdout.write(`wrote ${path}; check it with: drover config check --config ${path}\n`);
  return ExitStatus.ok;
}
