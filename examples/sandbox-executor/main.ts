/**
 * Entry point of the sandbox executor plugin. Compile it into one executable:
 *
 *   node_modules/.bin/bun build --compile examples/sandbox-executor/main.ts --outfile dist/examples/sandbox-executor
 *
 * and point a runner at it (`executor = "plugin"`, `[runners.plugin] path = "/abs/path"`).
 */
import { serveExecutor } from "@drover/plugin-sdk";
import { sandboxExecutor } from "./executor.ts";

const VERSION = "0.1.0";

await serveExecutor(sandboxExecutor(VERSION));
