/**
 * CI check: kernel/gen is exactly what `buf generate` makes from proto/ (after protobuf-es'
 * scripts/gh-diffcheck.js). Regenerates in place, then asks git whether anything changed.
 */
import { join } from "node:path";
import { ROOT } from "./paths.ts";

const bin = join(ROOT, "node_modules", ".bin");
const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };

function run(cmd: string[]): string {
  const result = Bun.spawnSync(cmd, { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) {
    console.error(`${cmd.join(" ")} failed:\n${result.stdout.toString()}${result.stderr.toString()}`);
    process.exit(1);
  }
  return result.stdout.toString();
}

run([join(bin, "buf"), "lint"]);
run([join(bin, "buf"), "generate"]);
const changed = run(["git", "status", "--porcelain", "--", "kernel/gen"]).trim();
if (changed) {
  console.error(`kernel/gen is stale: run "npm run gen" and commit the result.\n${changed}`);
  process.exit(1);
}
console.error("kernel/gen is current");
