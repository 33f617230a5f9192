/**
 * The plugin's entry: drover starts it, and serveLifecycle answers drover's handshake and calls
 * (docs: https://github.com/drover-ci/drover/blob/main/docs/plugins.md).
 */
import { serveLifecycle } from "@drover/plugin-sdk";
import { myLifecycle } from "./lifecycle.ts";

await serveLifecycle(myLifecycle());
