/**
 * drover changing its own config.toml: `drover register` adds a runner, `drover unregister` and
 * `drover verify --delete` remove some, `drover run` writes back a rotated token. One path for all of
 * them, so each gets the same guarantees:
 *
 *  - a file another local user could change is refused, as when it is read (file-trust.ts): drover
 *    does not put tokens where someone else can read or swap them;
 *  - the edit is made on the text (runner-sections.ts): comments and layout stay;
 *  - the result must be a configuration `drover run` accepts (the checks of `config check`), and must
 *    say what the edit meant it to say; otherwise nothing is written;
 *  - the new file replaces the old atomically, mode 0600 (atomic-write.ts);
 *  - if the file changed on disk while the edit was being made (two drovers at once), the edit is
 *    made again on the new text rather than overwriting what the other wrote.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { parse, TomlError, type TomlTable } from "smol-toml";
import { DroverError } from "../../kernel/errors.ts";
import { describeTrustProblem, pathTrustProblems } from "../../kernel/files/trusted-path.ts";
import { writeFileAtomic } from "./atomic-write.ts";
import { checkConfigText } from "./check.ts";
import { configFileTrust } from "./file-trust.ts";
import type { Config, ConfigProblem } from "./model.ts";
import { formatProblem } from "./problems.ts";
import { SectionEditError } from "./runner-sections.ts";

export interface ConfigEdit {
  /** What the edit does, for messages: `add runner "lxd"`. */
  what: string;
  /**
   * The new text from the current one (`""` for a file not created yet) and its parsed document
   * (integers as bigint). Throw a DroverError or SectionEditError to refuse.
   */
  apply(text: string, doc: TomlTable): string;
  /** Checks the edited document; a sentence saying what is wrong, or undefined when it is right. */
  verify(doc: TomlTable): string | undefined;
}

export interface EditResult {
  /** The configuration the file now holds. */
  config: Config;
  /** Its warnings (unknown keys, ...), as `config check` prints them. */
  warnings: ConfigProblem[];
}

/** How many times an edit is made again when the file changes under it. */
const ATTEMPTS = 3;

/**
 * Applies `edit` to the config file `file` (absolute). `create`: a missing file (and its
 * directory, mode 0700) is created, as `gitlab-runner register` does; otherwise a missing file is
 * an error. `dryRun`: every check, nothing written (what the result would be). Throws
 * DroverError("config_invalid") naming the file and the reason; then the file is unchanged.
 */
export function editConfigFile(
  file: string,
  edit: ConfigEdit,
  options: { create?: boolean; dryRun?: boolean } = {},
): EditResult {
  const refuse = (reason: string, problems?: string[]) =>
    new DroverError("config_invalid", `cannot ${edit.what} in ${JSON.stringify(file)}: ${reason}`, {
      file,
      ...(problems === undefined ? {} : { problems }),
    });
  for (let attempt = 1; ; attempt++) {
    const exists = existsSync(file);
    if (!exists && !options.create) throw refuse("the file does not exist");
    if (exists) {
      const trust = configFileTrust(file, undefined);
      if (trust.errors.length > 0) throw refuse(trust.errors.join("; "));
    } else {
      requireTrustedDirectory(dirname(file), refuse);
    }
    const text = exists ? readText(file, refuse) : "";
    let next: string;
    try {
      next = edit.apply(text, parseToml(text, "the file is not valid TOML", refuse));
    } catch (err) {
      if (err instanceof SectionEditError) throw refuse(err.message);
      throw err;
    }
    const checked = checkConfigText(next, file);
    const errors = checked.problems.filter((p) => p.severity === "error");
    if (checked.config === undefined || errors.length > 0)
      throw refuse(
        "the result would not be a valid configuration; the file was not changed",
        errors.map(formatProblem),
      );
    const wrong = edit.verify(parseToml(next, "the result is not valid TOML", refuse));
    if (wrong !== undefined)
      throw new DroverError(
        "internal",
        `${edit.what}: the edited text does not say what it should: ${wrong}`,
        { file },
      );
    const result = {
      config: checked.config,
      warnings: checked.problems.filter((p) => p.severity === "warning"),
    };
    if (options.dryRun) return result;
    // Another drover (a register while `drover run` rotates a token) may have written meanwhile.
    const current = existsSync(file) ? readText(file, refuse) : "";
    if (current !== text) {
      if (attempt < ATTEMPTS) continue;
      throw refuse("the file keeps changing while drover edits it");
    }
    if (!exists) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, next, 0o600);
    return result;
  }
}

function readText(file: string, refuse: (reason: string) => DroverError): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw refuse(`cannot read it: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function parseToml(text: string, what: string, refuse: (reason: string) => DroverError): TomlTable {
  try {
    return parse(text, { integersAsBigInt: true });
  } catch (err) {
    const detail =
      err instanceof TomlError
        ? `line ${err.line}: ${(err.message.split("\n")[0] ?? "").replace(/^Invalid TOML document:\s*/, "")}`
        : String(err);
    throw refuse(`${what} (${detail}); check it with: drover config check`);
  }
}

/**
 * A new config file goes into a directory only drover's user (or root) can change, else drover
 * would refuse to read it afterwards (file-trust.ts). The directory may not exist yet: its nearest
 * existing ancestor is checked.
 */
function requireTrustedDirectory(dir: string, refuse: (reason: string) => DroverError): void {
  let existing = dir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const problems = pathTrustProblems(existing).filter(
    (p) => p.kind !== "unreadable" && !(p.kind === "writable" && p.by === "group"),
  );
  if (problems.length > 0)
    throw refuse(
      `not trusted (another local user could change what drover runs): ${problems.map(describeTrustProblem).join("; ")}`,
    );
}
