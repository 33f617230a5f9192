/**
 * The built-in plugins, in one list: the only module of plugins/ the core imports (as Nomad's core
 * knows its built-in drivers through one catalog). Each is compiled into drover and started as a
 * child process in plugin mode (`drover __plugin NAME`), where it serves through the public SDK
 * exactly as a third-party plugin does.
 *
 * A built-in that has settings of its own in config.toml owns them: the core asks its
 * `checkSettings` while it validates a config (file:line problems, before any job runs), and the
 * plugin reads the same table again when a job comes.
 */
import type { SettingsProblem } from "@drover/plugin-sdk";
import { readCustomSettings } from "./custom/settings.ts";

export interface BuiltinPlugin {
  kind: "executor" | "lifecycle";
  /** Serves the plugin in this process until drover stops it (plugin mode). */
  serve(version: string): Promise<void>;
  /** The problems of the plugin's settings table (undefined when config.toml has none). */
  checkSettings?(settings: unknown): SettingsProblem[];
}

export const BUILTIN_PLUGINS = {
  /** `executor = "shell"`: stages run with bash on this host. */
  shell: {
    kind: "executor",
    serve: async (version) => (await import("./shell/main.ts")).main(version),
  },
  /** `executor = "custom"`: GitLab custom executor drivers, run unmodified; owns `[runners.custom]`. */
  custom: {
    kind: "executor",
    serve: async (version) => (await import("./custom/main.ts")).main(version),
    checkSettings: (settings) => readCustomSettings(settings).problems,
  },
  /** `[hooks]` job_started / job_completed scripts, GitHub Actions runner style. */
  "script-hooks": {
    kind: "lifecycle",
    serve: async (version) => (await import("./script-hooks/main.ts")).main(version),
  },
} satisfies Record<string, BuiltinPlugin>;

export type BuiltinPluginName = keyof typeof BUILTIN_PLUGINS;

/** The built-in plugin called `name`, if there is one (plugin mode's argument comes from argv). */
export function builtinPlugin(name: string | undefined): BuiltinPlugin | undefined {
  return name !== undefined && Object.hasOwn(BUILTIN_PLUGINS, name)
    ? BUILTIN_PLUGINS[name as BuiltinPluginName]
    : undefined;
}
