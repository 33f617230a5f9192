/**
 * At the first job: removes the containers, networks and volumes an earlier instance of this plugin
 * created and did not remove because it was killed (SIGKILL, a crash, drover killed with it). What
 * is ours is what carries our label; what is stale is what names an owner process that is gone.
 * Another live drover's jobs are left alone.
 */
import type { ContainerCli } from "./cli.ts";
import { LABEL, OWNER_LABEL, ownerAlive } from "./names.ts";

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
  try {
    const stale = async (kind: "container" | "network" | "volume"): Promise<string[]> => {
      // `{{.Labels}}` is the one field every list prints, as "k=v,k=v" or "map[k:v k:v]".
      const list =
        kind === "container"
          ? ["ps", "-a", "--filter", `label=${LABEL}`, "--format", "{{.ID}} {{.Labels}}"]
          : [kind, "ls", "--filter", `label=${LABEL}`, "--format", "{{.Name}} {{.Labels}}"];
      const owner = new RegExp(`${OWNER_LABEL.replaceAll(".", "\\.")}[=:](\\d+:\\d+)`);
      return (await cli.run(list))
        .split("\n")
        .filter(Boolean)
        .flatMap((line) => {
          const [id] = line.split(" ");
          const of = owner.exec(line)?.[1];
          return id && of !== undefined && !ownerAlive(of) ? [id] : [];
        });
    };
    const containers = await stale("container");
    if (containers.length) await cli.run(["rm", "-f", "-v", ...containers]);
    const networks = await stale("network");
    if (networks.length) await cli.run(["network", "rm", "-f", ...networks]);
    const volumes = await stale("volume");
    if (volumes.length) await cli.run(["volume", "rm", "-f", ...volumes]);
    if (containers.length + networks.length + volumes.length)
      console.error(
        `container plugin: removed what a killed instance left: ${containers.length} container(s), ${networks.length} network(s), ${volumes.length} volume(s)`,
      );
  } catch (err) {
    // The CLI missing or failing is reported by the first job that needs it; start anyway.
    console.error(
      `container plugin: could not look for leftovers of a killed instance: ${(err as Error).message}`,
    );
  }
}
