/**
 * The values drover's own log must never print (docs/security.md: masked values in no log, the
 * plugin stderr forwarded into it included).
 *
 * Process-wide on purpose: the log is one stream shared by every job, so a value masked for one job
 * must stay out of it whatever logger or child logs it. The job runner registers a job's masked
 * values when the job starts and releases them when it ends, so a daemon's set does not grow with
 * the number of jobs.
 *
 * @example
 *   using _ = addLogRedaction(job.maskedValues);
 */

import { Masker } from "./masker.ts";

export interface LogRedaction extends Disposable {
  /** Stops redacting these values (once no other registration holds them). */
  remove(): void;
}

const counts = new Map<string, number>();
let masker: Masker | undefined = new Masker();

/**
 * Redacts `values` from every line drover's logger writes, from now on. Each value is redacted as
 * it is and as it appears inside a JSON string (quotes, backslashes, newlines escaped), since the
 * log is JSON lines.
 */
export function addLogRedaction(values: Iterable<string>): LogRedaction {
  const added: string[] = [];
  for (const value of values) {
    if (value.length === 0) continue;
    counts.set(value, (counts.get(value) ?? 0) + 1);
    added.push(value);
  }
  if (added.length > 0) masker = undefined;
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    for (const value of added) {
      const count = (counts.get(value) ?? 1) - 1;
      if (count > 0) counts.set(value, count);
      else counts.delete(value);
    }
    if (added.length > 0) masker = undefined;
  };
  return { remove, [Symbol.dispose]: remove };
}

/** `text` with every registered value replaced by `[MASKED]`. For a complete log line or message. */
export function redactLogText(text: string): string {
  masker ??= buildMasker();
  return masker.maskString(text);
}

function buildMasker(): Masker {
  const m = new Masker();
  for (const value of counts.keys()) {
    m.add(value);
    m.add(JSON.stringify(value).slice(1, -1));
  }
  return m;
}
