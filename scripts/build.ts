/**
 * `npm run build`: compiles drover into one executable, dist/drover.
 *
 * --bytecode and --minify make start-up faster. --no-compile-autoload-dotenv/-bunfig stop the
 * binary from reading a `.env` or `bunfig.toml` in whatever directory an administrator runs it from.
 *
 * The plugin SDK (bundled with its dependencies, and its declarations) and the plugin project
 * templates go in as embedded files (scripts/embedded-assets.ts): `drover plugin install` bundles
 * TypeScript and JavaScript plugins against the SDK, `drover plugin new` writes the templates.
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeEmbeddedAssets } from "./embedded-assets.ts";
import { BUN, DROVER, ROOT } from "./paths.ts";

mkdirSync(dirname(DROVER), { recursive: true });
const embedded = await writeEmbeddedAssets(join(dirname(DROVER), "embedded"));

// CI_RUNNER_REVISION and the coordinator's `revision`: the commit, when building from a git checkout.
const head = Bun.spawnSync(["git", "rev-parse", "--short=8", "HEAD"], { cwd: ROOT, stderr: "ignore" });
const revision = head.exitCode === 0 ? head.stdout.toString().trim() : "unknown";

const args = [
  "build",
  "--compile",
  "--bytecode",
  "--minify",
  "--sourcemap=none",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  "--define",
  `DROVER_REVISION=${JSON.stringify(revision)}`,
  join(ROOT, "src", "main.ts"),
  ...embedded,
  "--outfile",
  DROVER,
];
const started = performance.now();
const result = Bun.spawnSync([BUN, ...args], {
  cwd: ROOT,
  stdout: "inherit",
  stderr: "inherit",
});
if (result.exitCode !== 0) {
  console.error(`build failed: bun ${args.join(" ")} exited with ${result.exitCode}`);
  process.exit(1);
}
console.error(`built ${DROVER} in ${Math.round(performance.now() - started)} ms`);
