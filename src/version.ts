/** drover's version and the line `drover --version` prints (README.md, "Usage"). */

import { APP_PROTOCOL_VERSIONS } from "../kernel/protocol/handshake.ts";
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;

/** Set by scripts/build.ts (`--define`): the commit the binary was built from. */
declare const DROVER_REVISION: string | undefined;

/** The first 8 hex digits of drover's commit, as GitLab Runner's revision; "unknown" when not built from git. */
export const REVISION: string = typeof DROVER_REVISION === "string" ? DROVER_REVISION : "unknown";

export function versionLine(): string {
  return `drover ${VERSION} (plugin protocol ${APP_PROTOCOL_VERSIONS.join(",")})`;
}
