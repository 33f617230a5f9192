/**
 * Collecting config problems as validation walks the file, and printing them as `file:line: key: message`.
 */
import type { KeyLines, KeyPath } from "./locate.ts";
import type { ConfigProblem } from "./model.ts";

/**
 * One line per problem, compiler style; parts that are unknown are left out:
 * `config.toml:12: runners[0].custom.run_exec: expected a string, got integer 3`, and for a warning
 * `config.toml:3: warning: runners[0].clone_url: unknown key, ignored`.
 */
export function formatProblem(p: ConfigProblem): string {
  let where = "";
  if (p.file !== undefined) where = p.line === undefined ? `${p.file}: ` : `${p.file}:${p.line}: `;
  else if (p.line !== undefined) where = `line ${p.line}: `;
  const severity = p.severity === "warning" ? "warning: " : "";
  const key = p.keyPath === "" ? "" : `${p.keyPath}: `;
  return `${where}${severity}${key}${p.message}`;
}

/** Problems of one file, in the order of their lines (file-level ones first). */
export class ProblemList {
  private readonly list: ConfigProblem[] = [];
  /** Runner names by index, to show `runners[1] ("lxd")` in key paths. */
  private readonly runnerNames = new Map<number, string>();

  constructor(
    private readonly file: string | undefined,
    private readonly keys: KeyLines,
  ) {}

  error(path: KeyPath, message: string): void {
    this.add("error", path, message);
  }

  warning(path: KeyPath, message: string): void {
    this.add("warning", path, message);
  }

  /** A problem that is not about a key (TOML syntax error). */
  atLine(line: number | undefined, message: string): void {
    this.list.push({ severity: "error", file: this.file, line, keyPath: "", message });
  }

  nameRunner(index: number, name: string): void {
    this.runnerNames.set(index, name);
  }

  lineOf(path: KeyPath): number | undefined {
    return this.keys.lineOf(path);
  }

  get hasErrors(): boolean {
    return this.list.some((p) => p.severity === "error");
  }

  sorted(): ConfigProblem[] {
    // Array.prototype.sort is stable: problems on one line keep the order they were found in.
    return [...this.list].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  }

  private add(severity: ConfigProblem["severity"], path: KeyPath, message: string): void {
    const keyPath = this.display(path);
    // The same value can be checked twice (plugin settings are also part of the runner's section).
    if (this.list.some((p) => p.keyPath === keyPath && p.message === message)) return;
    this.list.push({ severity, file: this.file, line: this.keys.lineOf(path), keyPath, message });
  }

  private display(path: KeyPath): string {
    let out = "";
    path.forEach((segment, i) => {
      if (typeof segment === "number") {
        out += `[${segment}]`;
        const name = i === 1 && path[0] === "runners" ? this.runnerNames.get(segment) : undefined;
        if (name !== undefined) out += ` (${JSON.stringify(name)})`;
      } else {
        const key = /^[A-Za-z0-9_-]+$/.test(segment) ? segment : JSON.stringify(segment);
        out += i === 0 ? key : `.${key}`;
      }
    });
    return out;
  }
}
