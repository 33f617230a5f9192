/**
 * drover's helper commands: what a job's stage scripts run where the job runs, as gitlab-runner
 * runs its own binary (`gitlab-runner artifacts-uploader`, ...) there. The names and options are
 * gitlab-runner-helper's; docs/jobs.md ("Artifacts and caches") says what an executor must provide
 * for them (this binary, reachable from the job's environment).
 */
import { parseArgs } from "../cli/args.ts";
import { ARTIFACTS_DOWNLOADER_ARGS, artifactsDownloader } from "./artifacts-downloader.ts";
import { ARTIFACTS_UPLOADER_ARGS, artifactsUploader } from "./artifacts-uploader.ts";
import { CACHE_ARCHIVER_ARGS, cacheArchiver } from "./cache-archiver.ts";
import { CACHE_EXTRACTOR_ARGS, cacheExtractor } from "./cache-extractor.ts";
import { HelperFailure, say } from "./helper-run.ts";

export const HELPER_COMMANDS = [
  "artifacts-uploader",
  "artifacts-downloader",
  "cache-archiver",
  "cache-extractor",
];

export async function helperCommand(name: string, argv: readonly string[]): Promise<number> {
  try {
    switch (name) {
      case "artifacts-uploader":
        await artifactsUploader(parseArgs(argv, ARTIFACTS_UPLOADER_ARGS));
        break;
      case "artifacts-downloader":
        await artifactsDownloader(parseArgs(argv, ARTIFACTS_DOWNLOADER_ARGS));
        break;
      case "cache-archiver":
        await cacheArchiver(parseArgs(argv, CACHE_ARCHIVER_ARGS));
        break;
      case "cache-extractor":
        await cacheExtractor(parseArgs(argv, CACHE_EXTRACTOR_ARGS));
        break;
      default:
        throw new HelperFailure(`unknown helper command ${JSON.stringify(name)}`);
    }
    return 0;
  } catch (err) {
    // Every failure is one `ERROR:` line and status 1, as gitlab-runner's helpers end (logrus.Fatal):
    // the stage script decides what it means; a stack trace would only clutter the job log.
    const message = err instanceof Error ? err.message : String(err);
    if (message) say(`ERROR: ${message}`);
    return 1;
  }
}
