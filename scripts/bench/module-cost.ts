/**
 * What each dependency costs a compiled binary at start-up: one binary per module, compiled with
 * drover's build flags, whose whole program is importing that module, timed against the Bun "hello"
 * binary of benchmark a. Not part of `npm run bench` (it compiles seven binaries); run it when the
 * start-up figures move:
 *
 *   node_modules/.bin/bun scripts/bench/module-cost.ts
 */
import { spawnSync } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT } from "../paths.ts";
import { compare, ms, scratch, spread, timeCommand } from "./harness.ts";
import { BUILD_FLAGS, compileHello } from "./startup.ts";

const MODULES = ["@grpc/grpc-js", "pino", "@bufbuild/protobuf", "ajv", "smol-toml"];
const COUNTS = { warmups: 2, runs: 21 };

function compileImport(dir: string, module: string): string {
  const name = module.replace(/[@/]/g, "_");
  const source = join(dir, `${name}.ts`);
  const path = join(dir, name);
  // The entry file resolved from the repository, so that the scratch dir needs no node_modules.
  const entry = Bun.resolveSync(module, ROOT);
  writeFileSync(
    source,
    `import * as m from ${JSON.stringify(entry)};\nconsole.log(Object.keys(m).length);\n`,
  );
  const result = spawnSync(BUN, ["build", ...BUILD_FLAGS, source, "--outfile", path], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  if (result.status !== 0) throw new Error(`compiling ${module} failed: ${String(result.stderr)}`);
  return path;
}

async function main(): Promise<void> {
  using root = scratch("drover-module-cost-");
  const dir = root.dir("bin");
  const hello = compileHello(dir).path;
  const size = (file: string) => `${(statSync(file).size / 1024 ** 2).toFixed(1)} MiB`;
  process.stdout.write(`module                start-up: median (min–max)  added to hello  binary\n`);
  for (const module of MODULES) {
    const binary = compileImport(dir, module);
    const { subject, floor } = await compare(
      () => timeCommand({ argv: [binary] }),
      () => timeCommand({ argv: [hello] }),
      COUNTS,
    );
    process.stdout.write(
      `${module.padEnd(20)}  ${spread(subject).padEnd(26)}  ${`+${ms(subject.median - floor.median)}`.padEnd(14)}  ${size(binary)} (hello ${size(hello)}, ${ms(floor.median)})\n`,
    );
  }
}

await main();
