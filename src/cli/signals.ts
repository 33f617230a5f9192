/**
 * Ctrl-C and SIGTERM for commands that run jobs: the first SIGINT cancels gracefully (after_script
 * and cleanup still run), the second aborts; SIGTERM cancels as "runner interrupted".
 */
import type { StopReason } from "../job/outcome.ts";

export interface StopSignals {
  cancel: AbortSignal;
  abort: AbortSignal;
  dispose(): void;
}

export function trapStopSignals(onFirst: (reason: StopReason) => void, onAbort: () => void): StopSignals {
  const cancel = new AbortController();
  const abort = new AbortController();
  const stop = (reason: StopReason) => {
    if (!cancel.signal.aborted) {
      cancel.abort(reason);
      onFirst(reason);
    } else if (!abort.signal.aborted) {
      abort.abort(reason);
      onAbort();
    }
  };
  const onInt = () => stop("canceled");
  const onTerm = () => stop("interrupted");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  return {
    cancel: cancel.signal,
    abort: abort.signal,
    dispose() {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
    },
  };
}
