/**
 * GitLab's `$VAR` expansion over a list of job variables (GitLab Runner's `JobVariables.Expand` and
 * `ExpandValue`), shared by the core (stage scripts, the stage plan, masks) and by plugins (the
 * custom executor's CUSTOM_ENV_* values, hook environments): one implementation, so that a value
 * means the same thing wherever it is expanded.
 */

/** What expansion needs of a variable: the core's JobVariable and the protocol's Variable both fit. */
export interface ExpandableVariable {
  key: string;
  value: string;
  /** Raw values are never expanded. */
  raw: boolean;
}

/** Variables by key, the last definition winning: build it once, look up many times. */
export type VariableTable<V extends ExpandableVariable = ExpandableVariable> = ReadonlyMap<string, V>;

export function variableTable<V extends ExpandableVariable>(vars: readonly V[]): VariableTable<V> {
  const table = new Map<string, V>();
  for (const v of vars) table.set(v.key, v);
  return table;
}

/**
 * `$VAR` and `${VAR}` in `value` replaced by the variables' values, with GitLab Runner's rules (Go's
 * `os.Expand` over `JobVariables.Get`): unknown names become "", `$$` becomes "$", shell specials
 * (`$1`, `$@`, `$?`, ...) are kept as written (`$-` is looked up, so ""), `${` without `}` is dropped, a lone `$` is kept.
 * One level only: the values substituted are used as they are, never expanded again.
 */
export function expandVariables(value: string, vars: readonly ExpandableVariable[] | VariableTable): string {
  if (!value.includes("$")) return value;
  const table =
    vars instanceof Map ? (vars as VariableTable) : variableTable(vars as readonly ExpandableVariable[]);
  let out = "";
  let from = 0;
  for (let j = value.indexOf("$"); j !== -1 && j + 1 < value.length; j = value.indexOf("$", from)) {
    out += value.slice(from, j);
    const [name, width] = shellName(value, j + 1);
    if (name === "" && width > 0) {
      // Invalid syntax ("${}" or an unterminated "${"): Go eats it.
    } else if (name === "") {
      out += "$";
    } else if (name === "$") {
      out += "$";
    } else if (name.length === 1 && "*#@!?0123456789".includes(name)) {
      // GitLab's `JobVariables.Get` leaves positional and special parameters for the shell.
      out += `$${name}`;
    } else {
      out += table.get(name)?.value ?? "";
    }
    from = j + 1 + width;
  }
  return out + value.slice(from);
}

function isSpecial(ch: string): boolean {
  return "*#$@!?-0123456789".includes(ch);
}

function isNameChar(code: number): boolean {
  return (
    code === 0x5f ||
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a)
  );
}

/** Go's `os.getShellName`: the name after a `$` at `start`, and how many characters it spans. */
function shellName(s: string, start: number): [string, number] {
  const first = s[start] ?? "";
  if (first === "{") {
    const special = s[start + 1];
    if (special !== undefined && isSpecial(special) && s[start + 2] === "}") return [special, 3];
    const close = s.indexOf("}", start + 1);
    if (close === -1) return ["", 1];
    if (close === start + 1) return ["", 2];
    return [s.slice(start + 1, close), close - start + 1];
  }
  if (isSpecial(first)) return [first, 1];
  let i = start;
  while (i < s.length && isNameChar(s.charCodeAt(i))) i++;
  return [s.slice(start, i), i - start];
}

/**
 * Every value as the job sees it: non-raw values expanded against the whole list, raw ones as given
 * (GitLab Runner's `JobVariables.Expand`, done once before any script is written).
 */
export function expandAll<V extends ExpandableVariable>(vars: readonly V[]): V[] {
  const table = variableTable(vars);
  return vars.map((v) =>
    v.raw || !v.value.includes("$") ? v : { ...v, value: expandVariables(v.value, table) },
  );
}

/** The value of `key` as the job sees it (last definition, expanded unless raw), or undefined. */
export function variableValue(table: VariableTable, key: string): string | undefined {
  const v = table.get(key);
  if (v === undefined) return undefined;
  return v.raw ? v.value : expandVariables(v.value, table);
}
