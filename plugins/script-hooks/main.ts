/** Plugin-mode entry of the built-in script-hooks lifecycle plugin (`drover __plugin script-hooks`). */
import { serveLifecycle } from "@drover/plugin-sdk";
import { scriptHooksPlugin } from "./plugin.ts";

export function main(version: string): Promise<void> {
  return serveLifecycle(scriptHooksPlugin(version));
}
