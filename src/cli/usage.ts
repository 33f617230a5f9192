/** The help text and the usage error. */
import { DroverError } from "../../kernel/errors.ts";

export const USAGE = `usage:
  drover --version
  drover exec [--config F] [--runner NAME] [--artifacts-dir D] JOB.json [JOB.json ...]
                                                                     run jobs described by JSON files
  drover exec [--config F] [--runner NAME] -- 'cmd' ['cmd' ...]      run one job whose script is these lines
  drover run [--config F]                                            daemon: take jobs from GitLab coordinators
  drover register --url URL --token glrt-... [--name N] [--config F] add a runner created in GitLab to config.toml
      [--executor shell|custom|plugin] [--limit N] [--builds-dir D] [--cache-dir D]
      [--custom-run-exec P] [--custom-config-exec P] [--custom-prepare-exec P] [--custom-cleanup-exec P]
      [--plugin-name N [--plugin-version R] | --plugin-path P] [--leave-runner]
  drover verify [--config F] [--name N | --token T [--url U]] [--delete]
                                                                     check runner tokens with GitLab; --delete removes
                                                                     the runners GitLab deleted from config.toml
  drover unregister [--config F] --name N | --token T [--url U] | --all-runners
                                                                     unregister from GitLab and remove from config.toml
  drover config check [--config F]                                   validate the configuration
  drover plugin install SOURCE [--name N] [--sha256 HEX]            install a plugin from a path (an executable, a dir with
                                                                     drover-plugin.toml, a .ts/.js entry run on drover's runtime),
                                                                     an https:// tarball (pinned), or npm:NAME[@RANGE]
  drover plugin sync [--frozen] [--config F]                         install the plugins config.toml declares with a source;
                                                                     --frozen never fetches and fails on anything missing
  drover plugin list | inspect NAME[@V] | remove NAME[@V] | verify   manage installed plugins
  drover plugin new executor|lifecycle NAME [--dir D]                write a TypeScript plugin project that works as written
  drover plugin test [DIR]                                           run a plugin project's tests on drover's runtime
  drover init [--force] [PATH]                                       write a commented starter config.toml

global options:
  --log-level LEVEL   drover's own log on stderr: trace, debug, info, warn, error (default warn for exec)

exit status: 0 success, 1 job failed, 2 system failure, 3 canceled or timed out,
             64 usage error, 78 configuration error
`;

export function usageError(message: string): DroverError {
  return new DroverError("usage", `${message} (run "drover --help" for usage)`);
}
