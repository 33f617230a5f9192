import { expect, test } from "bun:test";
import { checkConfigText, starterConfig } from "../../src/config/index.ts";

test("the starter config has no problem and one shell runner", () => {
  const { config, problems } = checkConfigText(starterConfig(), "config.toml");
  expect(problems).toEqual([]);
  expect(config?.runners.map((r) => [r.name, r.executor])).toEqual([["local", "shell"]]);
  expect(config?.hooks).toEqual({ jobStarted: [], jobCompleted: [], plugins: [], passVariables: [] });
});

test("its commented-out examples are valid too once switched on", () => {
  const { config, problems } = checkConfigText(starterConfig({ examplesActive: true }), "config.toml");
  expect(problems).toEqual([]);
  expect(config?.runners.map((r) => [r.name, r.executor])).toEqual([
    ["local", "shell"],
    ["lxd", "custom"],
    ["vm", "plugin"],
  ]);
  expect(config?.hooks.jobStarted).toEqual([{ path: "/opt/hooks/start.sh" }]);
});

test("without the examples switched on, the commented text is the only difference", () => {
  const commentedOut = starterConfig({ examplesActive: true })
    .split("\n")
    .filter((line, i) => line !== starterConfig().split("\n")[i]);
  expect(commentedOut.length).toBeGreaterThan(0);
  const active = starterConfig().split("\n");
  const examples = starterConfig({ examplesActive: true }).split("\n");
  expect(active.length).toBe(examples.length);
  active.forEach((line, i) => {
    if (line !== examples[i]) expect(line).toBe(`# ${examples[i]}`);
  });
});
