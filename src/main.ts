/**
 * drover's entry point: argv → command. The one top-level error boundary and the one
 * `process.exit` of the core. Commands are imported lazily, so that `--version`, `config check`
 * and plugin mode load only what they use (start-up time, docs/performance.md).
 */

import { DroverError } from "../kernel/errors.ts";
import { builtinPlugin } from "../plugins/catalog.ts";
import { takeLogLevel } from "./cli/args.ts";
import { USAGE, usageError } from "./cli/usage.ts";
import { ExitStatus, exitStatusForError } from "./exit-status.ts";
import { PLUGIN_MODE_COMMAND } from "./plugin/spec.ts";
import { VERSION, versionLine } from "./version.ts";

async function main(rawArgv: string[]): Promise<number> {
  if (rawArgv[0] === PLUGIN_MODE_COMMAND) return runBuiltinPlugin(rawArgv[1]);
  const { level, argv } = takeLogLevel(rawArgv);
  const [command, ...rest] = argv;
  switch (command) {
    case "--version":
    case "-V":
    case "version":
      process.stdout.write(`${versionLine()}\n`);
      return ExitStatus.ok;
    case undefined:
    case "--help":
    case "-h":
    case "help":
      process.stdout.write(USAGE);
      return command === undefined ? ExitStatus.usage : ExitStatus.ok;
    case "exec":
      return (await import("./cli/exec.ts")).execCommand(rest, { logLevel: level });
    case "run":
      return (await import("./cli/run.ts")).runCommand(rest, { logLevel: level });
    case "config":
      return (await import("./cli/config-check.ts")).configCommand(rest);
    case "plugin":
      return (await import("./cli/plugin.ts")).pluginCommand(rest, { logLevel: level });
    case "init":
      return (await import("./cli/init.ts")).initCommand(rest);
    case "register":
      return (await import("./cli/register.ts")).registerCommand(rest);
    case "verify":
      return (await import("./cli/verify.ts")).verifyCommand(rest);
    case "unregister":
      return (await import("./cli/unregister.ts")).unregisterCommand(rest);
    // What a job's stage scripts run where the job runs (src/helper/main.ts).
    case "artifacts-uploader":
    case "artifacts-downloader":
    case "cache-archiver":
    case "cache-extractor":
      return (await import("./helper/main.ts")).helperCommand(command, rest);
    default:
      throw usageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/** Plugin mode: serve until drover stops us; the SDK exits the process itself. */
async function runBuiltinPlugin(name: string | undefined): Promise<number> {
  const plugin = builtinPlugin(name);
  if (plugin === undefined) throw usageError(`unknown built-in plugin ${JSON.stringify(name)}`);
  await plugin.serve(VERSION);
  return new Promise<number>(() => {});
}

function report(err: DroverError): void {
  const lines = [`drover: ${err.shortMessage}`];
  for (const problem of err.details.problems ?? []) lines.push(`  ${problem}`);
  if (err.details.stderrTail)
    lines.push(
      "last lines the plugin printed on stderr:",
      ...err.details.stderrTail.split("\n").map((l) => `  ${l}`),
    );
  process.stderr.write(`${lines.join("\n")}\n`);
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (caught: unknown) => {
    const err = DroverError.from(caught);
    report(err);
    if (err.code === "internal" && err.cause instanceof Error && err.cause.stack)
      process.stderr.write(`${err.cause.stack}\n`);
    process.exit(exitStatusForError(err));
  },
);
