/** drover's version and the line `drover --version` prints (SPEC §3). */
import pkg from "../package.json" with { type: "json" };
import { APP_PROTOCOL_VERSIONS } from "./protocol/handshake.ts";

export const VERSION: string = pkg.version;

export function versionLine(): string {
  return `drover ${VERSION} (plugin protocol ${APP_PROTOCOL_VERSIONS.join(",")})`;
}
