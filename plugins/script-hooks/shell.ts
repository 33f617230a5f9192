/**
 * Which interpreter runs a hook script, by its extension, as GitHub's runner chooses it for job
 * hooks (`GetDefaultShellForScript`): `.sh` → `bash -e <path>`, or `sh -e <path>` when there is no
 * bash on PATH; `.ps1` → `pwsh -command ". '<path>'"`, or `powershell`; `.js` → the JavaScript
 * runtime the runner carries: GitHub's is its bundled node, drover's the Bun embedded in its own
 * executable (this plugin is that executable in plugin mode: process.execPath), started through
 * startChild's `embeddedRuntime`. The standard step flags (`--noprofile --norc -o pipefail`) are
 * not added: a hook sets what it wants itself.
 *
 * Arguments are passed as they are, no shell in between. For `.ps1` the path sits inside a
 * PowerShell single-quoted string, so a `'` in it is doubled (GitHub does not, and breaks on it).
 */
import { accessSync, constants, statSync } from "node:fs";
import { basename, join } from "node:path";

export interface HookShell {
  /** Absolute path of the interpreter. */
  command: string;
  args: string[];
  /** As GitHub prints it under "Run": `/usr/bin/bash -e {0}`. */
  display: string;
  /** `command` is this executable, run as its embedded JavaScript runtime (startChild). */
  embeddedRuntime?: true;
}

export type ShellChoice = { ok: true; shell: HookShell } | { ok: false; message: string };

/** `Path.GetExtension`: from the last dot of the file name, dot included ("" when there is none). */
export function extensionOf(path: string): string {
  const name = basename(path);
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot);
}

/** The first executable regular file called `name` in the directories of `pathEnv`. */
export function findExecutable(name: string, pathEnv: string | undefined): string | undefined {
  for (const dir of (pathEnv ?? "").split(":")) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not there, or not executable: try the next directory
    }
  }
  return undefined;
}

export function chooseShell(scriptPath: string, pathEnv: string | undefined): ShellChoice {
  switch (extensionOf(scriptPath)) {
    case ".sh": {
      const command = findExecutable("bash", pathEnv) ?? findExecutable("sh", pathEnv);
      if (command === undefined)
        return {
          ok: false,
          message: `Hook ${scriptPath}: neither bash nor sh was found on PATH (${pathEnv ?? ""})`,
        };
      return { ok: true, shell: { command, args: ["-e", scriptPath], display: `${command} -e {0}` } };
    }
    case ".ps1": {
      const command = findExecutable("pwsh", pathEnv) ?? findExecutable("powershell", pathEnv);
      if (command === undefined)
        return {
          ok: false,
          message: `Hook ${scriptPath}: neither pwsh nor powershell was found on PATH (${pathEnv ?? ""})`,
        };
      return {
        ok: true,
        shell: {
          command,
          args: ["-command", `. '${scriptPath.replaceAll("'", "''")}'`],
          display: `${command} -command ". '{0}'"`,
        },
      };
    }
    case ".js":
      return {
        ok: true,
        shell: {
          command: process.execPath,
          args: [scriptPath],
          display: `${process.execPath} {0}`,
          embeddedRuntime: true,
        },
      };
    default:
      // GitHub's message, verbatim.
      return {
        ok: false,
        message: `${scriptPath} is not a valid path to a script. Make sure it ends in '.sh', '.ps1' or '.js'.`,
      };
  }
}
