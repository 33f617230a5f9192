/**
 * The job payload in a JobContext (`job_json`) without the values of its file variables, and back.
 *
 * A file variable's value (a certificate, a kubeconfig, often large) travels once, in the context's
 * `variables`; `job_json` carries the variable with an empty value. `jobPayload` puts the values back
 * for a plugin that needs the payload as GitLab sent it (the custom executor's JOB_RESPONSE_FILE).
 * The payload's file variables appear in `variables` in the same order (the job's variables keep
 * theirs), so each one gets the value of its counterpart: the n-th file variable named K in the
 * payload, the n-th file variable named K in `variables`.
 */

interface FileVariable {
  key: string;
  value: string;
  file: boolean;
}

type PayloadVariable = { key?: unknown; value?: unknown; file?: unknown };

function fileEntries(payload: unknown): PayloadVariable[] {
  if (typeof payload !== "object" || payload === null) return [];
  const variables = (payload as { variables?: unknown }).variables;
  if (!Array.isArray(variables)) return [];
  return variables.filter(
    (v): v is PayloadVariable =>
      typeof v === "object" &&
      v !== null &&
      (v as PayloadVariable).file === true &&
      typeof (v as PayloadVariable).key === "string",
  );
}

/** `payload` as JSON, each file variable's value emptied (the payload itself is left alone). */
export function payloadJsonWithoutFileValues(payload: unknown): string {
  if (fileEntries(payload).length === 0) return JSON.stringify(payload);
  return JSON.stringify(payload, function (this: unknown, key, value) {
    if (key === "value" && typeof value === "string" && isFileVariable(this)) return "";
    return value;
  });
}

function isFileVariable(holder: unknown): boolean {
  return (
    typeof holder === "object" &&
    holder !== null &&
    (holder as PayloadVariable).file === true &&
    typeof (holder as PayloadVariable).key === "string"
  );
}

/**
 * The job payload of a JobContext as GitLab sent it: `job_json` parsed, each file variable's value
 * put back from `variables`.
 *
 * @example
 *   const payload = jobPayload(request.job); // JSON.stringify(payload) is GitLab's job response
 */
export function jobPayload(context: { jobJson: Uint8Array; variables: readonly FileVariable[] }): unknown {
  const payload: unknown = JSON.parse(new TextDecoder().decode(context.jobJson));
  const entries = fileEntries(payload);
  if (entries.length === 0) return payload;
  const values = new Map<string, string[]>();
  for (const v of context.variables) {
    if (!v.file) continue;
    const list = values.get(v.key);
    if (list) list.push(v.value);
    else values.set(v.key, [v.value]);
  }
  for (const entry of entries) {
    const value = values.get(entry.key as string)?.shift();
    if (value !== undefined) entry.value = value;
  }
  return payload;
}
