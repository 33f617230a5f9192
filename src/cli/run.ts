/**
 * `drover run [--config F]`: the daemon that takes jobs from GitLab-compatible coordinators
 * (docs/daemon.md). Reads config.toml like every command, then hands over to src/daemon.
 */
import { loadDotenv } from "../config/dotenv.ts";
import { loadConfig } from "../config/load.ts";
import { formatProblem } from "../config/problems.ts";
import { Daemon } from "../daemon/daemon.ts";
import { createLogger } from "../log/logger.ts";
import { parseArgs } from "./args.ts";
import { usageError } from "./usage.ts";

export async function runCommand(argv: string[], options: { logLevel: string | undefined }): Promise<number> {
  const args = parseArgs(argv, { values: ["config"] });
  if (args.positionals.length || args.rest !== undefined)
    throw usageError(
      `run takes no arguments besides --config, got ${JSON.stringify(args.positionals[0] ?? "--")}`,
    );
  const explicitPath = args.values.get("config");
  // The same lookup on every reload: `--config`, else $DROVER_CONFIG, else ./config.toml, ...;
  // then the runner's .env beside it, into drover's environment, before the jobs' plugins start.
  const load = async () => {
    const loaded = await loadConfig({
      ...(explicitPath === undefined ? {} : { explicitPath }),
      env: process.env,
      cwd: process.cwd(),
    });
    const dotenv = loadDotenv(loaded.config.source);
    return { ...loaded, warnings: [...loaded.warnings, ...dotenv.warnings] };
  };
  const initial = await load();
  const logger = createLogger({
    level: options.logLevel ?? initial.config.logLevel ?? "info",
    pretty: Boolean(process.stderr.isTTY),
    color: !process.env.NO_COLOR,
  });
  for (const warning of initial.warnings)
    logger.warn({ problem: formatProblem(warning) }, "configuration warning");
  const daemon = new Daemon({ initial, reload: load, logger, logLevelFixed: options.logLevel !== undefined });
  return daemon.run();
}
