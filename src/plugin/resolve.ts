/**
 * Which plugin process serves a runner: the one place that turns `executor = ...` into a command.
 */
import { basename } from "node:path";
import type { RunnerConfig } from "../config/model.ts";
import { DroverError } from "../errors.ts";
import { builtinPluginSpec, type PluginSpec, pluginSpec } from "./spec.ts";

export function executorPluginSpec(runner: RunnerConfig): PluginSpec {
  switch (runner.executor) {
    case "shell":
      return builtinPluginSpec("shell");
    case "custom":
      // The shell-driver adapter is its own piece of work (issue 3); until it lands, say so plainly
      // instead of starting something that cannot run the drivers.
      throw new DroverError(
        "config_invalid",
        `runner "${runner.name}": executor "custom" is not available in this drover build yet`,
        {
          keyPath: "executor",
        },
      );
    case "plugin":
      if (runner.plugin.kind === "path") return pluginSpec(basename(runner.plugin.path), runner.plugin.path);
      throw new DroverError(
        "config_invalid",
        `runner "${runner.name}": installed plugins (name = "${runner.plugin.name}") are not supported by this drover build yet; use path = "/abs/path/to/plugin"`,
        { keyPath: "plugin.name" },
      );
  }
}
