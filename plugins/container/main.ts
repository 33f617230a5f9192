/** The container executor plugin's entry (README.md): each job in its own podman or docker container. */
import { serveExecutor } from "@drover/plugin-sdk";
import { containerExecutor } from "./executor.ts";

await serveExecutor(containerExecutor());
