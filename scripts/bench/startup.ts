/**
 * a. start-up: `drover --version` against a Bun "hello" binary compiled in the same run with the
 * flags of scripts/build.ts, i.e. what any `bun build --compile` program costs to start on this
 * machine. What drover adds is its own module graph and the size of its binary.
 */
import { spawnSync } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN } from "../paths.ts";
import type { BenchContext } from "./context.ts";
import { compare, ms, type Row, ratio, spread, timeCommand } from "./harness.ts";

const TARGET_RATIO = 3;

/** Keep in step with scripts/build.ts (which runs its build on import, so it cannot be imported). */
export const BUILD_FLAGS = [
  "--compile",
  "--bytecode",
  "--minify",
  "--sourcemap=none",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
] as const;

export function compileHello(dir: string): { path: string; buildMs: number } {
  const source = join(dir, "hello.ts");
  const path = join(dir, "hello");
  writeFileSync(source, 'console.log("hello");\n');
  const started = performance.now();
  const result = spawnSync(BUN, ["build", ...BUILD_FLAGS, source, "--outfile", path], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  if (result.status !== 0) throw new Error(`compiling the hello binary failed: ${String(result.stderr)}`);
  return { path, buildMs: performance.now() - started };
}

export async function startup(ctx: BenchContext): Promise<Row> {
  const hello = compileHello(ctx.dir("hello"));
  const opts = { cwd: ctx.cwd, env: ctx.env };
  const { subject, floor } = await compare(
    () => timeCommand({ argv: [ctx.drover, "--version"], ...opts }),
    () => timeCommand({ argv: [hello.path], ...opts }),
    { warmups: 2, runs: 21 },
  );
  const r = subject.median / floor.median;
  const mib = (file: string) => `${(statSync(file).size / 1024 ** 2).toFixed(0)} MiB`;
  return {
    name: "start-up: drover --version",
    measured: spread(subject),
    floor: `${spread(floor)} hello`,
    ratio: ratio(subject.median, floor.median),
    target: `≤ ×${TARGET_RATIO}`,
    met: r <= TARGET_RATIO,
    notes: [
      `binary sizes: drover ${mib(ctx.drover)}, hello ${mib(hello.path)}; hello compiled in ${ms(hello.buildMs)}`,
    ],
  };
}
