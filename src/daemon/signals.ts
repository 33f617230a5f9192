/**
 * The daemon's signals (docs/daemon.md), as GitLab Runner reads them:
 *   SIGTERM, SIGINT  stop: stop polling, cancel running jobs (runner_interrupted), report, exit
 *   SIGQUIT          drain: stop polling, let running jobs finish, exit
 *   SIGHUP           reload config.toml
 * What a second stop signal does is the daemon's decision (daemon.ts).
 */
export type DaemonSignal = "stop" | "drain" | "reload";

const SIGNALS: ReadonlyArray<[NodeJS.Signals, DaemonSignal]> = [
  ["SIGTERM", "stop"],
  ["SIGINT", "stop"],
  ["SIGQUIT", "drain"],
  ["SIGHUP", "reload"],
];

/** Routes the signals to `handler` until the returned function is called. */
export function trapDaemonSignals(handler: (kind: DaemonSignal, signal: NodeJS.Signals) => void): () => void {
  const listeners = SIGNALS.map(([signal, kind]) => {
    const listener = () => handler(kind, signal);
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  };
}
