/**
 * Bash script building blocks, with GitLab Runner's bash shell semantics (`shells/bash.go`).
 *
 * Every script is `set -eo pipefail` + `set +o noclobber`, the variable exports, then the stage's
 * commands as `eval '<body>' </dev/null`: the body is one single-quoted word, so a script works the
 * same whether a driver runs it as a file or pipes it into `bash` on stdin (`docker exec -i ... bash
 * < script`, common in custom executor drivers), and the job's commands read an empty stdin instead
 * of the rest of the script. `set -e` stops at the first failing command and its exit code becomes
 * the script's.
 *
 * GitLab writes everything as `: | eval '<body>'`. Two reasons not to: in bash 5 an errexit inside
 * `eval` in a pipeline subshell exits 1 whatever the command's status (`sh -c 'exit 42'` ends the
 * script with 1; GitLab patches that with FF_ENABLE_BASH_EXIT_CODE_CHECK), and bash's `eval` of a
 * multi-megabyte string is quadratic (100,000 exports: 0.4 s as plain lines, over a minute eval'd).
 * So exports stay plain top-level lines (they never read stdin) and only the commands are eval'd.
 *
 * Untrusted text (variable values, command echoes, paths, keys) only ever appears single-quoted.
 */

import { expandVariables, variableTable } from "../../../kernel/variables.ts";
import type { JobVariable } from "../model.ts";

/** `value` as one bash word, byte for byte: single quotes, each `'` written as `'\''`. */
export function quote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * `value` as one bash word: as it is when it holds only characters bash never treats specially
 * (keeps generated scripts readable), else `quote(value)`.
 */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : quote(value);
}

/** Names bash can export. Keys from a payload are checked by the parser; extra env might not be. */
export function isShellName(key: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key);
}

/** Accumulates the body of a stage script, one shell line at a time. */
export class ScriptWriter {
  /** Top-level lines before the body: variable exports and file variables. */
  private readonly prelude: string[] = [];
  private readonly lines: string[] = [];
  /** The body turns xtrace on: it turns it off again at its end, silently. */
  #traced = false;

  /** `job`: the job's processes (src/process/containment.ts), joined first, marked after the exports. */
  constructor(private readonly job?: { trackingId: string; cgroup: string }) {}

  /** A raw line of bash. Only for text drover wrote; anything from the job goes through `quote`. */
  line(text: string): this {
    this.lines.push(text);
    return this;
  }

  /** A command: `program` as written (drover's own constant), each argument quoted. */
  command(program: string, ...args: string[]): this {
    return this.line([program, ...args.map(shellWord)].join(" "));
  }

  /** Prints `text` and a newline on stdout (GitLab's Noticef/Printf; drover prints no colours). */
  print(text: string): this {
    return this.line(`printf '%s\\n' ${quote(text)}`);
  }

  /** Prints a warning line (GitLab's Warningf). */
  warning(text: string): this {
    return this.print(`WARNING: ${text}`);
  }

  /**
   * Exports every variable in order (a later definition overrides an earlier one). Values are
   * expanded here, before quoting, as GitLab Runner expands them in Go (`JobVariables.Expand`): one
   * level, raw values untouched; bash never re-reads a value, so `$(...)` in a value stays text.
   * File variables are written into `tmpDir` (0700, the job's own) as files (0600, created O_EXCL)
   * and exported as their paths.
   */
  exportVariables(
    variables: readonly JobVariable[],
    tmpDir: string,
    pathPrepend: readonly string[] = [],
  ): this {
    const table = variableTable(variables);
    const files: string[] = [];
    const exports: string[] = [];
    for (const v of variables) {
      if (!isShellName(v.key)) {
        exports.push(
          `printf '%s\\n' ${quote(`WARNING: variable ${JSON.stringify(v.key)} is not a valid name, not exported`)}`,
        );
        continue;
      }
      const value = v.raw ? v.value : expandVariables(v.value, table);
      if (v.file) {
        const path = fileVariablePath(tmpDir, v.key);
        // A file left by an earlier job of this project goes first: the new one is created O_EXCL.
        files.push(`  rm -f ${shellWord(path)}`, `  printf '%s' ${shellWord(value)} > ${shellWord(path)}`);
        exports.push(`export ${v.key}=${shellWord(path)}`);
      } else {
        exports.push(`export ${v.key}=${shellWord(value)}`);
      }
    }
    if (files.length > 0) {
      // The dir is the job's own, made 0700 here; one that already exists must be a directory
      // (not a link) of this user with mode 0700, else another local user could read the secrets
      // or have planted the files (docs/security.md; test/e2e/attacks/file-variables.test.ts).
      const dir = shellWord(tmpDir);
      this.prelude.push(
        `mkdir -p "$(dirname ${dir})"`,
        `if ! mkdir -m 700 ${dir} 2>/dev/null; then`,
        `  if [ -L ${dir} ] || [ ! -d ${dir} ] || [ ! -O ${dir} ] || [ "$(stat -c %a ${dir})" != 700 ]; then`,
        `    printf '%s\\n' ${quote(`ERROR: refusing to write file variables into ${tmpDir}: it exists and is not a private (0700) directory of drover's user`)} >&2`,
        "    exit 1",
        "  fi",
        "fi",
      );
      // A subshell: umask 077 and noclobber (O_EXCL) for the files only; the job's own are left alone.
      this.prelude.push("(", "  umask 077", "  set -o noclobber", ...files, ")");
    }
    this.prelude.push(...exports);
    // GITHUB_PATH from job_started hooks: in front of whatever PATH the executor's host has.
    if (pathPrepend.length) this.prelude.push(`export PATH=${pathPrepend.map(quote).join(":")}:"$PATH"`);
    return this;
  }

  /**
   * The job's commands, GitLab's `writeCommands`: each trimmed, echoed as `$ <line>`, then run as
   * written. A multi-line command is echoed as its first line + ` # collapsed multi-line command`;
   * with `sections` (FF_SCRIPT_SECTIONS and the job's `trace_sections`) as a collapsed section
   * `section_<prefix>_<i>` whose header is the whole command, as GitLab's `writeMultilineCommand`.
   */
  userCommands(
    commands: readonly string[],
    options: { sectionPrefix: string; sections: boolean } = { sectionPrefix: "script_step", sections: false },
  ): this {
    commands.forEach((raw, i) => {
      const command = raw.trim();
      if (command === "") {
        this.line("echo");
        return;
      }
      const newline = command.indexOf("\n");
      if (newline === -1) this.print(`$ ${command}`);
      else if (options.sections) this.collapsedSection(`${options.sectionPrefix}_${i}`, `$ ${command}`);
      else this.print(`$ ${command.slice(0, newline)} # collapsed multi-line command`);
      this.line(command);
    });
    return this;
  }

  /**
   * GitLab's section markers around a header (`section_start:<time>:section_<id>[hide_duration=true,
   * collapsed=true]` CR ESC[0K header, then `section_end`), which GitLab's job page shows as one
   * collapsed line. `id` is drover's (letters, digits, `_`); the header goes through printf's `%s`.
   */
  private collapsedSection(id: string, header: string): void {
    if (!/^[A-Za-z0-9_]+$/.test(id)) throw new Error(`bad section id ${id}`);
    this.line(
      `printf 'section_start:%s:section_${id}[hide_duration=true,collapsed=true]\\r\\033[0K%s\\n' "$(date +%s)" ${quote(header)}`,
    );
    this.line(`printf 'section_end:%s:section_${id}\\r\\033[0K\\n' "$(date +%s)"`);
  }

  /** CI_DEBUG_TRACE: every command of the body is echoed (`+ cmd`) on stderr as it runs. */
  trace(): this {
    this.#traced = true;
    return this.line("set -o xtrace");
  }

  /**
   * The complete script: header, joining the job's cgroup, exports, the job's tracking id, then the
   * body as one `eval`'d word. The cgroup is joined before anything else runs, so nothing the job
   * starts is outside it; where the script runs on another host (a VM, a container) the path does
   * not exist and the line does nothing. The tracking id comes after the job's variables: the job
   * cannot choose it.
   */
  build(stage: string): string {
    const cgroup = this.job?.cgroup ? `${this.job.cgroup}/cgroup.procs` : undefined;
    return [
      "#!/usr/bin/env bash",
      `# drover ${stage} script (generated)`,
      ...(cgroup
        ? [`if [ -w ${quote(cgroup)} ]; then echo "$$" > ${quote(cgroup)} 2>/dev/null || true; fi`]
        : []),
      "set -eo pipefail",
      "set +o noclobber",
      ...this.prelude,
      ...(this.job?.trackingId ? [`export DROVER_JOB_TRACKING_ID=${quote(this.job.trackingId)}`] : []),
      `eval ${quote([...this.lines, ...(this.#traced ? ["{ set +o xtrace; } 2>/dev/null"] : [])].join("\n"))} </dev/null`,
      "exit 0",
      "",
    ].join("\n");
  }
}

/** Where a file variable's content is written: `<tmpDir>/<KEY>` as GitLab Runner's `TmpFile`. */
export function fileVariablePath(tmpDir: string, key: string): string {
  return `${tmpDir.replace(/\/+$/, "")}/${key}`;
}
