/**
 * At the first job: removes the containers, networks and volumes an earlier instance of this plugin
 * created and did not remove because it was killed (SIGKILL, a crash, drover killed with it). What
 * is ours is what carries our label; what is stale is what names an owner process that is gone.
 * Another live drover's jobs are left alone.
 */
import type { ContainerCli } from "./cli.ts";
import { LABEL, OWNER_LABEL, ownerGone } from "./names.ts";

const checked = new Map<string, Promise<void>>();

/** removeStale once per CLI in this process: at the first job that uses it. */
export function removeStaleOnce(cli: ContainerCli): Promise<void> {
  let done = checked.get(cli.command);
  if (!done) {
    done = removeStale(cli);
    checked.set(cli.command, done);
  }
  return done;
}

async function removeStale(cli: ContainerCli): Promise<void> {
  const stale = async (kind: "container" | "network" | "volume"): Promise<string[]> => {
    // `{{.Labels}}` is the one field every list prints, as "k=v,k=v" or "map[k:v k:v]".
    const list =
      kind === "container"
        ? ["ps", "-a", "--filter", `label=${LABEL}`, "--format", "{{.ID}} {{.Labels}}"]
        : [kind, "ls", "--filter", `label=${LABEL}`, "--format", "{{.Name}} {{.Labels}}"];
    const owner = new RegExp(`${OWNER_LABEL.replaceAll(".", "\\.")}[=:]([^,\\s\\]]+)`);
    return (await cli.run(list))
      .split("\n")
      .filter(Boolean)
      .flatMap((line) => {
        const [id] = line.split(" ");
        const of = owner.exec(line)?.[1];
        return id && of !== undefined && ownerGone(of) ? [id] : [];
      });
  };
  const removed: string[] = [];
  // Each kind on its own: one that fails (an old docker's `network rm`) does not keep the others.
  for (const [kind, remove] of [
    ["container", (ids: string[]) => ["rm", "-f", "-v", ...ids]],
    ["network", (ids: string[]) => ["network", "rm", ...ids]],
    ["volume", (ids: string[]) => ["volume", "rm", "-f", ...ids]],
  ] as const) {
    try {
      const ids = await stale(kind);
      if (ids.length) {
        await cli.run(remove(ids));
        removed.push(`${ids.length} ${kind}(s)`);
      }
    } catch (err) {
      // The CLI missing or failing is reported by the job that needs it; go on.
      console.error(
        `container plugin: could not remove ${kind}s a killed instance left: ${(err as Error).message}`,
      );
    }
  }
  if (removed.length)
    console.error(`container plugin: removed what a killed instance left: ${removed.join(", ")}`);
}
