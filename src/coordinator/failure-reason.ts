/**
 * The failure reason sent in the final `PUT /jobs/:id`. GitLab rejects a reason it does not know;
 * each job payload lists the ones this GitLab knows (`features.failure_reasons`). Like GitLab
 * Runner (common/build.go), a reason outside that list is replaced by an older, wider one it knows,
 * else by `unknown_failure`. A coordinator that sends no list (older GitLab, test doubles) gets the
 * reason as it is.
 */
import type { FailureReason } from "../exit-status.ts";

/** Known to every GitLab that has a runner job API. */
const ALWAYS_SUPPORTED: readonly string[] = [
  "script_failure",
  "runner_system_failure",
  "job_execution_timeout",
];

/** Newer reasons → the older reason that covers them. */
const COMPATIBLE: Partial<Record<FailureReason, string>> = {
  runner_configuration_error: "script_failure", // GitLab Runner's ConfigurationError → ScriptFailure
  runner_interrupted: "runner_system_failure",
};

export function supportedFailureReason(reason: FailureReason, payload: unknown): string {
  const listed = supportedReasons(payload);
  if (listed === undefined) return reason;
  const known = (r: string) => listed.includes(r) || ALWAYS_SUPPORTED.includes(r);
  if (known(reason)) return reason;
  const older = COMPATIBLE[reason];
  if (older !== undefined && known(older)) return older;
  return "unknown_failure";
}

function supportedReasons(payload: unknown): string[] | undefined {
  if (typeof payload !== "object" || payload === null) return undefined;
  const features = (payload as { features?: unknown }).features;
  if (typeof features !== "object" || features === null) return undefined;
  const reasons = (features as { failure_reasons?: unknown }).failure_reasons;
  if (!Array.isArray(reasons) || reasons.length === 0) return undefined;
  return reasons.filter((r): r is string => typeof r === "string");
}
