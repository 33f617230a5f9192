/**
 * `npm run build`: compiles drover into one executable, dist/drover.
 *
 * --bytecode and --minify make start-up faster. --no-compile-autoload-dotenv/-bunfig stop the
 * binary from reading a `.env` or `bunfig.toml` in whatever directory an administrator runs it from.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const outfile = join(root, "dist", "drover");
mkdirSync(join(root, "dist"), { recursive: true });

const args = [
  "build",
  "--compile",
  "--bytecode",
  "--minify",
  "--sourcemap=none",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  join(root, "src", "main.ts"),
  "--outfile",
  outfile,
];
const started = performance.now();
const result = Bun.spawnSync([process.execPath, ...args], {
  cwd: root,
  stdout: "inherit",
  stderr: "inherit",
});
if (result.exitCode !== 0) {
  console.error(`build failed: bun ${args.join(" ")} exited with ${result.exitCode}`);
  process.exit(1);
}
console.error(`built ${outfile} in ${Math.round(performance.now() - started)} ms`);
