/**
 * Which plugin process serves a runner: the one place that turns `executor = ...` into a command.
 */
import { accessSync, constants, statSync } from "node:fs";
import { basename } from "node:path";
import { DroverError } from "../../kernel/errors.ts";
import type { HookScript, HooksConfig, RunnerConfig } from "../config/model.ts";
import { readLock } from "./install/lock.ts";
import { lockPath, pluginDir } from "./install/plugin-dir.ts";
import { type PluginReference, selectInstalled } from "./install/select.ts";
import { builtinPluginSpec, installedPluginSpec, type PluginSpec, pluginSpec } from "./spec.ts";

export function executorPluginSpec(runner: RunnerConfig): PluginSpec {
  switch (runner.executor) {
    case "shell":
      return builtinPluginSpec("shell");
    case "custom":
      // The shell-driver adapter (plugins/custom): this binary in plugin mode, running the drivers.
      return builtinPluginSpec("custom");
    case "plugin":
      if (runner.plugin.kind === "path") {
        checkExecutable(runner.plugin.path, `runner "${runner.name}": plugin`);
        return pluginSpec(basename(runner.plugin.path), runner.plugin.path);
      }
      return installedSpec(runner.plugin, "executor", `runner "${runner.name}"`);
  }
}

/** An installed plugin by name and version range: the highest match in the lock file, with its hashes. */
function installedSpec(ref: PluginReference, kind: "executor" | "lifecycle", where: string): PluginSpec {
  const lock = lockPath(pluginDir());
  const entry = selectInstalled(readLock(lock), ref, kind, where);
  return installedPluginSpec(entry, lock);
}

/** A plugin named by path must be an executable file: a configuration error otherwise, caught by `config check`. */
function checkExecutable(path: string, what: string): void {
  try {
    accessSync(path, constants.X_OK);
    if (!statSync(path).isFile()) throw new Error("not a file");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "does not exist"
        : code === "EACCES"
          ? "is not executable"
          : "is not an executable file";
    throw new DroverError("config_invalid", `${what} ${JSON.stringify(path)} ${why}`, {
      keyPath: "plugin.path",
    });
  }
}

/** A lifecycle plugin to launch for every job, and the settings it gets (JobContext.runner_settings_json). */
export interface LifecycleSpec {
  spec: PluginSpec;
  settingsJson: string;
  calls: { started: boolean; completed: boolean };
}

/**
 * The lifecycle plugins every job goes through, in order: the built-in script-hooks plugin when
 * any hook script is set (ACTIONS_RUNNER_HOOK_JOB_STARTED / _COMPLETED first, as on GitHub's
 * runner, then `[hooks] job_started` / `job_completed`), then each `[[hooks.plugins]]`.
 */
export function lifecyclePluginSpecs(
  hooks: HooksConfig,
  env: Record<string, string | undefined>,
): LifecycleSpec[] {
  const fromEnv = (name: string): ScriptHookSetting[] => {
    const path = env[name];
    return path ? [{ path }] : [];
  };
  const toSetting = (script: HookScript): ScriptHookSetting =>
    script.timeoutSeconds === undefined
      ? { path: script.path }
      : { path: script.path, timeout_seconds: script.timeoutSeconds };
  const settings: ScriptHooksSettings = {
    job_started: [...fromEnv("ACTIONS_RUNNER_HOOK_JOB_STARTED"), ...hooks.jobStarted.map(toSetting)],
    job_completed: [...fromEnv("ACTIONS_RUNNER_HOOK_JOB_COMPLETED"), ...hooks.jobCompleted.map(toSetting)],
  };
  const specs: LifecycleSpec[] = [];
  if (settings.job_started.length || settings.job_completed.length) {
    specs.push({
      spec: builtinPluginSpec("script-hooks"),
      settingsJson: JSON.stringify(settings),
      calls: { started: settings.job_started.length > 0, completed: settings.job_completed.length > 0 },
    });
  }
  for (const plugin of hooks.plugins) {
    let spec: PluginSpec;
    if (plugin.ref.kind === "path") {
      checkExecutable(plugin.ref.path, "hooks.plugins: plugin");
      spec = pluginSpec(basename(plugin.ref.path), plugin.ref.path);
    } else {
      spec = installedSpec(plugin.ref, "lifecycle", "hooks.plugins");
    }
    specs.push({
      spec,
      settingsJson: JSON.stringify(plugin.settings),
      calls: { started: true, completed: true },
    });
  }
  return specs;
}

/** Every hook script the script-hooks plugin would run: ACTIONS_RUNNER_HOOK_* first, then `[hooks]`. */
export function hookScriptPaths(hooks: HooksConfig, env: Record<string, string | undefined>): string[] {
  return [
    env.ACTIONS_RUNNER_HOOK_JOB_STARTED,
    env.ACTIONS_RUNNER_HOOK_JOB_COMPLETED,
    ...hooks.jobStarted.map((s) => s.path),
    ...hooks.jobCompleted.map((s) => s.path),
  ].filter((path): path is string => Boolean(path));
}

/** The settings the script-hooks plugin reads (plugins/script-hooks). */
interface ScriptHookSetting {
  path: string;
  timeout_seconds?: number;
}
interface ScriptHooksSettings {
  job_started: ScriptHookSetting[];
  job_completed: ScriptHookSetting[];
}
