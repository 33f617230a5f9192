/** Plugin-mode entry of the built-in shell executor (`drover __plugin shell`). */
import { serveExecutor } from "../sdk/index.ts";
import { shellExecutor } from "./executor.ts";

export function main(version: string): Promise<void> {
  return serveExecutor(shellExecutor(version));
}
