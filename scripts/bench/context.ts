/** What every benchmark gets from index.ts: the binary under test and a place to work. */
import type { RunCounts } from "./harness.ts";

export interface BenchContext {
  /** The drover binary to measure (a private copy of dist/drover, see index.ts). */
  drover: string;
  /** A scratch directory for this run; removed at the end. */
  dir(name: string): string;
  /** A clean environment with HOME, XDG dirs and TMPDIR inside the scratch directory. */
  env: Record<string, string>;
  /** An empty directory to run jobs in (no config.toml). */
  cwd: string;
  /** The default counts; a benchmark may use more runs when they are cheap. */
  counts: RunCounts;
}
