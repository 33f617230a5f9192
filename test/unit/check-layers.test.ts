/**
 * scripts/check-layers.ts (run by `npm run lint`) on small trees: it accepts the layering of this
 * repository and refuses each way of breaking it.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { BUN, ROOT, tempDir } from "../harness.ts";

function check(files: Record<string, string>): { exitCode: number; stderr: string } {
  using dir = tempDir();
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir.path, name)), { recursive: true });
    writeFileSync(join(dir.path, name), text);
  }
  const run = Bun.spawnSync([BUN, join(ROOT, "scripts", "check-layers.ts"), dir.path], {
    stdout: "pipe",
    stderr: "pipe",
  });
  return { exitCode: run.exitCode, stderr: run.stderr.toString() };
}

const base = {
  "kernel/errors.ts": "export class DroverError extends Error {}\n",
  "plugins/sdk/index.ts": 'export { DroverError } from "../../kernel/errors.ts";\n',
  "plugins/catalog.ts": 'export const x = () => import("./shell/main.ts");\n',
  "plugins/shell/main.ts": 'import { DroverError } from "@drover/plugin-sdk";\nimport { y } from "./y.ts";\n',
  "plugins/shell/y.ts": "export const y = 1;\n",
  "src/main.ts": 'import { x } from "../plugins/catalog.ts";\nimport "../kernel/errors.ts";\n',
};

describe("check-layers", () => {
  test("this repository's layering passes", () => {
    expect(check(base)).toEqual({ exitCode: 0, stderr: expect.stringContaining("layers: ok") });
  });

  test("a plugin may use other npm packages (the container plugin drives its CLI with execa)", () => {
    const result = check({
      ...base,
      "plugins/shell/run.ts": 'import { execa } from "execa";\nimport "node:fs";\n',
    });
    expect(result.exitCode).toBe(0);
  });

  test.each([
    ["a plugin imports the core", "plugins/shell/bad.ts", 'import { z } from "../../src/main.ts";\n'],
    [
      "a plugin imports the kernel directly",
      "plugins/shell/bad.ts",
      'import type { K } from "../../kernel/errors.ts";\n',
    ],
    ["a plugin imports another plugin", "plugins/shell/bad.ts", 'export * from "../custom/x.ts";\n'],
    [
      "an example imports the core",
      "examples/demo/bad.ts",
      'import type { Job } from "../../src/job/model.ts";\n',
    ],
    [
      "an example imports the protocol package itself",
      "examples/demo/bad.ts",
      'import { create } from "@bufbuild/protobuf";\n',
    ],
    ["the core imports a plugin's internals", "src/bad.ts", 'import { y } from "../plugins/shell/y.ts";\n'],
    ["the kernel imports the core", "kernel/bad.ts", 'import "../src/main.ts";\n'],
    ["the SDK imports the core", "plugins/sdk/bad.ts", 'import "../../src/main.ts";\n'],
  ])("%s: refused, naming the file", (_, file, text) => {
    const result = check({ ...base, [file]: text });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`${file}: imports`);
  });
});
