/**
 * The plugin's entry: drover starts it, and serveExecutor answers drover's handshake and calls
 * (docs: https://github.com/drover-ci/drover/blob/main/docs/plugins.md).
 */
import { serveExecutor } from "@drover/plugin-sdk";
import { myExecutor } from "./executor.ts";

await serveExecutor(myExecutor());
