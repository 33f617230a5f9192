/**
 * Text of a config file → Config and every problem in it. Pure: no file system, no environment; used by
 * `loadConfig`, by `drover config check` and by the tests.
 */
import { parse, TomlError, type TomlTable } from "smol-toml";
import { locateKeys } from "./locate.ts";
import type { Config, ConfigProblem } from "./model.ts";
import { ProblemList } from "./problems.ts";
import { validateConfig } from "./validate.ts";

export interface CheckResult {
  /** Present exactly when `problems` holds no error (warnings allowed). */
  config?: Config;
  /** Errors and warnings, in the order of their lines. */
  problems: ConfigProblem[];
}

/**
 * Checks config.toml text. `file` is only used to label problems and as `config.source`.
 *
 * @example
 * const { config, problems } = checkConfigText('[[runners]]\nexecutor = "docker"\n', "config.toml");
 * // config === undefined; problems[0]: config.toml:2: runners[0].executor: unknown executor "docker": ...
 */
export function checkConfigText(text: string, file: string | undefined): CheckResult {
  let doc: TomlTable;
  try {
    // Integers as bigint: tells `3` from `3.0`, so an integer key given a float is reported.
    doc = parse(text, { integersAsBigInt: true });
  } catch (err) {
    const problems = new ProblemList(file, locateKeys(""));
    if (err instanceof TomlError) {
      // smol-toml's message is "Invalid TOML document: <what>\n\n<code excerpt>": keep <what>.
      const what = (err.message.split("\n")[0] ?? "").replace(/^Invalid TOML document:\s*/, "");
      problems.atLine(err.line, `invalid TOML: ${what} (column ${err.column})`);
    } else {
      problems.atLine(undefined, `invalid TOML: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { problems: problems.sorted() };
  }
  const problems = new ProblemList(file, locateKeys(text));
  const config = validateConfig(doc, problems, file);
  return config === undefined ? { problems: problems.sorted() } : { config, problems: problems.sorted() };
}
