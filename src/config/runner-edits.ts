/**
 * The config.toml edits the runner commands make, each with the check that its result says what
 * it should (config-edit.ts runs them): add a registered runner, remove runners, write back a
 * rotated token. Runners are found in the file by what identifies them at GitLab (url and token)
 * and by name, at the time of the edit: the file may have changed since it was last read.
 */
import type { TomlTable, TomlValue } from "smol-toml";
import { DroverError } from "../../kernel/errors.ts";
import type { ConfigEdit } from "./config-edit.ts";
import { isTable } from "./fields.ts";
import { type NewRunner, newRunnerSection } from "./new-runner.ts";
import { appendRunnerSection, removeRunnerSections, setRunnerKeys } from "./runner-sections.ts";
import { tokenTimeToml } from "./token-time.ts";
import { tomlString } from "./toml-value.ts";

/** A runner as written in the file: enough to find it again. */
export interface RunnerIdentity {
  name: string;
  url: string | undefined;
  token: string | undefined;
}

/** The `[[runners]]` tables of a parsed file, with the name each goes by (`runner-<index>` when unnamed). */
export function runnersOf(doc: TomlTable): Array<RunnerIdentity & { index: number }> {
  const runners: TomlValue | undefined = doc.runners;
  if (!Array.isArray(runners)) return [];
  return runners.flatMap((runner, index) => {
    if (!isTable(runner)) return [];
    const text = (key: string) => (typeof runner[key] === "string" ? (runner[key] as string) : undefined);
    const name = text("name");
    return [
      {
        index,
        name: name === undefined || name === "" ? `runner-${index}` : name,
        url: text("url"),
        token: text("token"),
      },
    ];
  });
}

function same(a: RunnerIdentity, b: RunnerIdentity): boolean {
  return a.name === b.name && a.url === b.url && a.token === b.token;
}

/** `drover register`: the new runner's section at the end of the file. Its name must be new. */
export function addRunner(runner: NewRunner, file: string): ConfigEdit {
  const section = newRunnerSection(runner);
  return {
    what: `add runner ${JSON.stringify(runner.name)}`,
    apply(text, doc) {
      if (runnersOf(doc).some((r) => r.name === runner.name))
        throw new DroverError(
          "usage",
          `a runner named ${JSON.stringify(runner.name)} is already in ${file}: choose another name with --name (runner names are unique)`,
          { file },
        );
      return appendRunnerSection(text, section);
    },
    verify(doc) {
      const last = runnersOf(doc).at(-1);
      return last !== undefined &&
        last.name === runner.name &&
        last.token === runner.token &&
        last.url === runner.url
        ? undefined
        : "the new runner is not the last [[runners]] section";
    },
  };
}

/** `drover unregister`, `drover verify --delete`: the sections of these runners, gone. */
export function removeRunners(runners: readonly RunnerIdentity[]): ConfigEdit {
  const names = runners.map((r) => JSON.stringify(r.name)).join(", ");
  return {
    what: `remove runner${runners.length === 1 ? "" : "s"} ${names}`,
    apply(text, doc) {
      const indices = runnersOf(doc)
        .filter((r) => runners.some((gone) => same(gone, r)))
        .map((r) => r.index);
      return indices.length === 0 ? text : removeRunnerSections(text, indices);
    },
    verify(doc) {
      const left = runnersOf(doc).filter((r) => runners.some((gone) => same(gone, r)));
      return left.length === 0 ? undefined : `runner ${JSON.stringify(left[0]?.name)} is still there`;
    },
  };
}

/** A token GitLab has replaced, and what replaced it. */
export interface TokenChange {
  url: string;
  oldToken: string;
  token: string;
  obtainedAt: Date;
  /** Undefined: never expires. */
  expiresAt: Date | undefined;
}

/**
 * `drover run` after a token rotation: `token`, `token_obtained_at` and `token_expires_at` of every
 * runner with this url and the old token (one GitLab runner may have several sections; the old
 * token is dead for all of them). Throws a DroverError when no section has the old token any more.
 */
export function writeRotatedToken(change: TokenChange, file: string): ConfigEdit {
  const matches = (r: RunnerIdentity) => r.url === change.url && r.token === change.oldToken;
  return {
    what: "write the rotated runner token",
    apply(text, doc) {
      const indices = runnersOf(doc)
        .filter(matches)
        .map((r) => r.index);
      if (indices.length === 0)
        throw new DroverError(
          "config_invalid",
          `no runner in ${file} has url ${JSON.stringify(change.url)} and the old token any more (was the file edited?)`,
          { file },
        );
      const values = [
        ["token", tomlString(change.token)],
        ["token_obtained_at", tokenTimeToml(change.obtainedAt)],
        ["token_expires_at", tokenTimeToml(change.expiresAt)],
      ] as const;
      return indices.reduce((out, index) => setRunnerKeys(out, index, values), text);
    },
    verify(doc) {
      const runners = runnersOf(doc);
      const stale = runners.filter(matches);
      if (stale.length > 0) return `runner ${JSON.stringify(stale[0]?.name)} still has the old token`;
      return runners.some((r) => r.url === change.url && r.token === change.token)
        ? undefined
        : "no runner has the new token";
    },
  };
}
