/**
 * The commented starter config.toml that `drover init` writes: one shell runner active, and examples
 * of a custom-executor runner, a plugin runner and hooks commented out. A test checks that the file,
 * and the file with its examples switched on, pass `checkConfigText` with no problem at all.
 */

const header = `# drover configuration.
#
# drover reads the first of: --config FILE, $DROVER_CONFIG, ./config.toml,
# $XDG_CONFIG_HOME/drover/config.toml (default ~/.config/drover/config.toml).
# A GitLab Runner [[runners]] section with executor "shell" or "custom" works here as-is.
# Check this file with: drover config check

concurrent = 1                   # jobs at once, all runners together
log_level = "info"               # trace, debug, info, warn, error or fatal
# plugin_handshake_timeout = 10  # seconds a plugin may take to start and answer

# Runs jobs on this host, in a shell, as the user running drover.
[[runners]]
  name = "local"
  executor = "shell"
  limit = 0                      # jobs at once for this runner; 0 = no limit
  # builds_dir = "/var/lib/drover/builds"
  # cache_dir = "/var/lib/drover/cache"
  # environment = ["FOO=bar"]
  # url = "https://gitlab.example.com"   # for drover run: the GitLab instance
  # token = "glrt-..."                   # and this runner's authentication token
`;

/** Each example: its explanation (always a comment) and its TOML lines (commented out unless active). */
const examples: ReadonlyArray<{ about: string; toml: string }> = [
  {
    about: "A runner backed by GitLab custom executor drivers, run unmodified.",
    toml: `[[runners]]
  name = "lxd"
  executor = "custom"
  builds_dir = "/builds"
  cache_dir = "/cache"
  [runners.custom]
    config_exec = "/opt/lxd/config.sh"
    prepare_exec = "/opt/lxd/prepare.sh"
    run_exec = "/opt/lxd/run.sh"          # the only required driver
    cleanup_exec = "/opt/lxd/cleanup.sh"
    # config_exec_timeout = 3600          # seconds; also prepare_exec_timeout, cleanup_exec_timeout
    # graceful_kill_timeout = 600         # seconds from SIGTERM to SIGKILL
    # force_kill_timeout = 10             # seconds to wait after SIGKILL`,
  },
  {
    about: 'A runner backed by an executor plugin (see "drover plugin install").',
    toml: `[[runners]]
  name = "vm"
  executor = "plugin"
  [runners.plugin]
    name = "firecracker"                  # an installed plugin; or path = "/abs/path/to/plugin"
    version = "^1.2"                      # optional semver range
    [runners.plugin.settings]             # handed to the plugin as-is
    vcpus = 2`,
  },
  {
    about: "Scripts run on this host before and after every job, and lifecycle plugins.",
    toml: `[hooks]
  job_started = "/opt/hooks/start.sh"     # or several: ["/a.sh", { path = "/b.sh", timeout = 60 }]
  job_completed = "/opt/hooks/done.sh"
  [[hooks.plugins]]
    name = "telemetry"`,
  },
];

/**
 * The starter config.toml text.
 * `examplesActive` switches the commented-out examples on: for tests and documentation.
 */
export function starterConfig(opts: { examplesActive?: boolean } = {}): string {
  const blocks = examples.map(({ about, toml }) => {
    const body = opts.examplesActive ? toml : toml.replace(/^/gm, "# ");
    return `\n# ${about}\n${body}\n`;
  });
  return header + blocks.join("");
}
