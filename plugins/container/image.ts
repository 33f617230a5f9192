/**
 * Having a job's image (or a service's) as GitLab's docker executor has it: the job's
 * `pull_policy` (if the runner allows it) or the runner's, tried in order: `never` takes what is
 * on the host, `if-not-present` pulls only when it is not, `always` pulls. What cannot be had is one
 * message naming the image and the policies tried.
 */
import type { ContainerCli } from "./cli.ts";
import type { PullPolicy, Settings } from "./settings.ts";

export class ImageError extends Error {
  constructor(
    message: string,
    /**
     * Not the host's passing trouble but the job's or the runner's setup (a policy the runner does
     * not allow, an image that may not be pulled and is not here): not retried.
     */
    readonly configuration: boolean,
  ) {
    super(message);
  }
}

export function pullPolicies(requested: readonly string[], settings: Settings): PullPolicy[] {
  const asked = requested.filter(
    (p): p is PullPolicy => p === "always" || p === "if-not-present" || p === "never",
  );
  if (!asked.length) return settings.pullPolicy;
  const allowed = settings.allowedPullPolicies ?? ["always", "if-not-present", "never"];
  const refused = asked.filter((p) => !allowed.includes(p));
  if (refused.length)
    throw new ImageError(
      `pull_policy ${JSON.stringify(refused)} is not allowed on this runner (allowed_pull_policies: ${JSON.stringify(allowed)})`,
      true,
    );
  return asked;
}

/** Makes `image` present, following `policies` in order; throws ImageError when none works. */
export async function ensureImage(
  cli: ContainerCli,
  image: string,
  policies: readonly PullPolicy[],
  say: (line: string) => void,
): Promise<void> {
  const failures: string[] = [];
  for (const policy of policies) {
    if (policy !== "always" && (await cli.succeeds(["image", "inspect", "--format", "{{.Id}}", image]))) {
      say(`Using locally found image ${image}`);
      return;
    }
    if (policy === "never") {
      failures.push("never: it is not on this host");
      continue;
    }
    try {
      say(`Pulling image ${image} ...`);
      await cli.run(["pull", "--quiet", image]);
      return;
    } catch (err) {
      failures.push(`${policy}: ${(err as Error).message}`);
    }
  }
  // Only `never`, and the image is not here: asking again cannot help (a pull that failed might).
  const hopeless = policies.every((p) => p === "never");
  throw new ImageError(
    `failed to pull image ${JSON.stringify(image)} with specified policies ${JSON.stringify(policies)}: ${failures.join("; ")}`,
    hopeless,
  );
}
