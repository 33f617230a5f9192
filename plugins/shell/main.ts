/** Plugin-mode entry of the built-in shell executor (`drover __plugin shell`). */
import { serveExecutor } from "@drover/plugin-sdk";
import { shellExecutor } from "./executor.ts";

export function main(version: string): Promise<void> {
  return serveExecutor(shellExecutor(version));
}
