/** drover's version and the line `drover --version` prints (README.md, "Usage"). */

import { APP_PROTOCOL_VERSIONS } from "../kernel/protocol/handshake.ts";
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;

export function versionLine(): string {
  return `drover ${VERSION} (plugin protocol ${APP_PROTOCOL_VERSIONS.join(",")})`;
}
