/**
 * h. per-stage cost of the container executor (plugins/container) over the `podman exec` it wraps:
 * a `drover exec` job of 1 + STAGES steps against the same job of 1 step, through the compiled
 * binary and the plugin installed from its sources; the difference divided by STAGES is what one
 * more stage costs (drover's stage script and bookkeeping, the gRPC call, the plugin writing the
 * script and starting `podman exec`). The floor is `podman exec` of `bash -c true` in a running
 * container of the same image. Needs podman and the base image (scripts/base-image.sh).
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../paths.ts";
import type { BenchContext } from "./context.ts";
import { compare, ms, type Row, spread, stats, timeCommand } from "./harness.ts";

const IMAGE = "localhost/drover-ci-base:bookworm";
const STAGES = 10;
/** What a stage may add over the `podman exec` it wraps. */
const TARGET_ADDED_MS = 30;

export async function containerStage(ctx: BenchContext): Promise<Row> {
  const podman = (args: string[]) => spawnSync("podman", args, { encoding: "utf8" });
  if (podman(["image", "exists", IMAGE]).status !== 0)
    throw new Error(`h needs podman and ${IMAGE}: run scripts/base-image.sh as root (CI's .ci/run does)`);
  const pluginDir = ctx.dir("plugins");
  const env = { ...ctx.env, DROVER_PLUGIN_DIR: pluginDir };
  const installed = spawnSync(ctx.drover, ["plugin", "install", join(ROOT, "plugins", "container")], {
    env,
    encoding: "utf8",
  });
  if (installed.status !== 0) throw new Error(`installing plugins/container: ${installed.stderr}`);
  const config = join(ctx.dir("config"), "config.toml");
  writeFileSync(
    config,
    `[[runners]]\n  name = "ctr"\n  executor = "plugin"\n  [runners.plugin]\n    name = "container"\n    [runners.plugin.settings]\n      image = "${IMAGE}"\n      pull_policy = ["never"]\n`,
  );
  const job = (steps: number) => {
    const file = join(ctx.dir("jobs"), `steps-${steps}.json`);
    const step = (name: string) => ({
      name,
      script: ["true"],
      timeout: 600,
      when: "on_success",
      allow_failure: false,
    });
    writeFileSync(
      file,
      JSON.stringify({
        id: 900 + steps,
        token: "bench-token",
        job_info: { name: "bench", stage: "test", project_id: 1, project_name: "bench" },
        runner_info: { timeout: 600 },
        variables: [{ key: "GIT_STRATEGY", value: "none", public: true }],
        steps: [step("script"), ...Array.from({ length: steps }, (_, i) => step(`extra_${i}`))],
      }),
    );
    return file;
  };
  const oneStep = job(0);
  const manySteps = job(STAGES);
  const run = (file: string) => () =>
    timeCommand({ argv: [ctx.drover, "exec", "--config", config, file], cwd: ctx.cwd, env });
  const { subject: many, floor: one } = await compare(run(manySteps), run(oneStep), ctx.counts);
  const perStage = (many.median - one.median) / STAGES;

  const container = podman(["run", "-d", "--rm", IMAGE, "sleep", "600"]).stdout.trim();
  try {
    const execs: number[] = [];
    for (let i = 0; i < ctx.counts.warmups + ctx.counts.runs * 3; i++) {
      const took = timeCommand({
        argv: ["podman", "exec", container, "bash", "--noprofile", "--norc", "-c", "true"],
      });
      if (i >= ctx.counts.warmups) execs.push(took);
    }
    const floor = stats(execs);
    const added = perStage - floor.median;
    return {
      name: "container stage: plugin vs podman exec",
      measured: `${ms(perStage)}/stage`,
      floor: `${spread(floor)} podman exec`,
      ratio: `+${ms(added)}`,
      target: `≤ +${ms(TARGET_ADDED_MS)}`,
      met: added <= TARGET_ADDED_MS,
      notes: [
        `a job of ${STAGES + 1} steps ${spread(many)} against 1 step ${spread(one)}: ${ms(perStage)} per extra stage, of which podman exec itself takes ${ms(floor.median)}`,
      ],
    };
  } finally {
    podman(["rm", "-f", "-t", "0", container]);
  }
}
