/**
 * Where `drover run` keeps what must outlive the process (today: final job states the coordinator
 * has not acknowledged, pending-updates.ts): `$XDG_STATE_HOME/drover`, else
 * `~/.local/state/drover` (the XDG Base Directory's place for "state data that should persist
 * between application restarts").
 *
 * Not beside config.toml, where GitLab Runner keeps `.runner_system_id`: drover's own systemd setup
 * (docs/daemon.md) makes /etc/drover read-only for drover's user, and its home
 * (/var/lib/drover, the unit's ReadWritePaths) is where it may write.
 */
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";

export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  // XDG: a relative XDG_STATE_HOME is invalid and ignored.
  const xdg = env.XDG_STATE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), ".local", "state");
  return join(base, "drover");
}
