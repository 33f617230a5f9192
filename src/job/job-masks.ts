/**
 * A job's secrets, kept out of every log while the job runs: the job log masks them (`[MASKED]`)
 * and drover's own log redacts them (faults suite, security.test.ts: a plugin that prints a masked
 * value on stderr must not put it into drover's log, nor may drover's own lines). Released when the
 * job ends, so that a daemon's redaction set does not grow with the number of jobs.
 */
import type { JobLog } from "../log/job-log.ts";
import { addLogRedaction, type LogRedaction } from "../log/redaction.ts";
import type { JobVariable } from "./model.ts";
import { maskedValues } from "./variables.ts";

export class JobMasks {
  readonly #log: JobLog;
  readonly #redactions = new Map<string, LogRedaction>();

  constructor(log: JobLog) {
    this.#log = log;
  }

  /** Masks every masked variable's value (as given and as expanded) in both logs. */
  maskVariables(variables: readonly JobVariable[]): void {
    for (const value of maskedValues(variables)) {
      this.#log.addMask(value);
      this.redactFromDroverLog(value);
    }
  }

  /** Keeps `value` out of drover's own log (the job log masks it already: ::add-mask::). */
  redactFromDroverLog(value: string): void {
    if (!this.#redactions.has(value)) this.#redactions.set(value, addLogRedaction([value]));
  }

  /** The job is over: drover's log stops redacting its values (unless another job holds them). */
  release(): void {
    for (const redaction of this.#redactions.values()) redaction.remove();
    this.#redactions.clear();
  }
}
