/** Plugin-mode entry of the built-in custom executor, the shell-driver adapter (`drover __plugin custom`). */
import { serveExecutor } from "@drover/plugin-sdk";
import { customExecutor } from "./executor.ts";

export function main(version: string): Promise<void> {
  return serveExecutor(customExecutor(version));
}
