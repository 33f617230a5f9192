/**
 * This host's system ID: what GitLab tells apart the hosts (GitLab's "runner managers") that share
 * one runner token with. GitLab Runner's rules (commands/internal/configfile/system_id_state.go),
 * kept so that a host moving from GitLab Runner keeps its identity:
 *
 *  - it lives in `.runner_system_id` in the directory of config.toml, one line, mode 0600, owned
 *    by config.toml's owner (also when `sudo drover register` creates it);
 *  - a file holding `s_` or `r_` and 12 letters or digits is used as it is; anything else (no
 *    file, an empty or garbled one) is replaced by a new ID, written once;
 *  - a new ID is `s_` and the first 12 hex digits of HMAC-SHA256(machine-id, app name): stable on
 *    this machine even if the file is lost, and not the machine-id itself (which is meant to stay
 *    private). Without a machine-id it is `r_` and 12 random letters and digits;
 *  - a file that cannot be written is not fatal: drover goes on with the new ID and says how to
 *    write it by hand.
 *
 * One difference: the app name in the HMAC is "drover", not "gitlab-runner", so drover and GitLab
 * Runner on the same machine are two runner managers in GitLab (the machineid convention: each
 * application gets its own ID). Copy `.runner_system_id` along with config.toml to keep the old one.
 *
 * @example
 * const { systemId, warning } = loadSystemId("/etc/drover/config.toml");
 * // systemId: "s_0f3a9c21b7de"; the file /etc/drover/.runner_system_id holds it
 */
import { createHmac, randomInt } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { DroverError } from "../../kernel/errors.ts";
import { writeFileAtomic } from "./atomic-write.ts";
import type { Config } from "./model.ts";

export const SYSTEM_ID_FILE = ".runner_system_id";

/** Where the machine-id is, in the order GitLab Runner's machineid library reads it on Linux. */
export const MACHINE_ID_FILES: readonly string[] = ["/var/lib/dbus/machine-id", "/etc/machine-id"];

const SYSTEM_ID = /^[sr]_[0-9a-zA-Z]{12}$/;

export interface SystemId {
  systemId: string;
  /** The file it is kept in. */
  file: string;
  /** Set when a new ID could not be saved: what happened and the command that saves it. */
  warning?: string;
}

/** Whether `text` is a system ID as GitLab Runner writes them. */
export function isSystemId(text: string): boolean {
  return SYSTEM_ID.test(text);
}

/**
 * The system ID kept beside `configFile` (absolute), created when there is none. Throws
 * DroverError("config_invalid") only when the file exists and cannot be read (GitLab Runner stops
 * there too).
 */
export function loadSystemId(
  configFile: string,
  machineIdFiles: readonly string[] = MACHINE_ID_FILES,
): SystemId {
  const file = join(dirname(configFile), SYSTEM_ID_FILE);
  const existing = readSystemIdFile(file);
  if (existing !== undefined) return { systemId: existing, file };
  const systemId = generateSystemId(machineIdFiles);
  try {
    writeFileAtomic(file, systemId, 0o600, { ownerLike: configFile });
    return { systemId, file };
  } catch (err) {
    return {
      systemId,
      file,
      warning: `${DroverError.from(err).shortMessage}; drover uses system ID ${systemId} for now. To keep it across restarts, write it there: echo ${systemId} > ${file}`,
    };
  }
}

/** `config` with `systemId` on every runner (what `drover run` sends in job requests); as is without one. */
export function withSystemId(config: Config, systemId: string | undefined): Config {
  if (systemId === undefined) return config;
  return { ...config, runners: config.runners.map((runner) => ({ ...runner, systemId })) };
}

/** A new system ID for this machine (see the module comment). */
export function generateSystemId(machineIdFiles: readonly string[] = MACHINE_ID_FILES): string {
  const machineId = readMachineId(machineIdFiles);
  if (machineId !== undefined) {
    const mac = createHmac("sha256", machineId).update("drover").digest("hex");
    return `s_${mac.slice(0, 12)}`;
  }
  const charset = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  let id = "r_";
  for (let i = 0; i < 12; i++) id += charset.charAt(randomInt(charset.length));
  return id;
}

/** The ID in `file`; undefined when there is no file or it holds no valid ID. */
function readSystemIdFile(file: string): string | undefined {
  let text: string;
  try {
    // A regular file of a sensible size only: the ID is one short line.
    const stat = statSync(file);
    if (!stat.isFile() || stat.size > 4096) return undefined;
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new DroverError(
      "config_invalid",
      `cannot read the system ID file ${JSON.stringify(file)}: ${code ?? String(err)}`,
      { file },
      { cause: err },
    );
  }
  const id = text.trim();
  return isSystemId(id) ? id : undefined;
}

function readMachineId(files: readonly string[]): string | undefined {
  for (const file of files) {
    try {
      const id = readFileSync(file, "utf8").trim();
      if (id !== "") return id;
    } catch {
      // not there: the next one
    }
  }
  return undefined;
}
