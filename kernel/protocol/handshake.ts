/**
 * The launch contract between drover and a plugin process, wire-compatible with hashicorp/go-plugin
 * (docs/plugins.md). Both sides use this file: the core to parse the plugin's line, the SDK to print it.
 *
 *   core → plugin: environment DROVER_PLUGIN_MAGIC_COOKIE, PLUGIN_PROTOCOL_VERSIONS, PLUGIN_UNIX_SOCKET_DIR
 *   plugin → core: one stdout line  CORE-VERSION|APP-VERSION|NETWORK|ADDRESS|PROTOCOL[|CERT[|MUX]]
 *                  e.g. "1|1|unix|/tmp/drover-plugin-x/plugin.sock|grpc"
 */

/** go-plugin's MagicCookieKey/MagicCookieValue pair for drover plugins. */
export const MAGIC_COOKIE_KEY = "DROVER_PLUGIN_MAGIC_COOKIE";
export const MAGIC_COOKIE_VALUE = "d7c1a7e2-drover-plugin-5b0f3e9a";

/** go-plugin's own protocol version (the first field); go-plugin has only ever had 1. */
export const CORE_PROTOCOL_VERSION = 1;

/** The drover app protocol versions this build speaks (PLUGIN_PROTOCOL_VERSIONS). */
export const APP_PROTOCOL_VERSIONS: readonly number[] = [1];

export const PROTOCOL_VERSIONS_ENV = "PLUGIN_PROTOCOL_VERSIONS";
export const SOCKET_DIR_ENV = "PLUGIN_UNIX_SOCKET_DIR";

/** What a plugin prints when someone runs it by hand. */
export const NOT_RUN_DIRECTLY_MESSAGE =
  "This binary is a drover plugin. It is started by drover, not run directly.";

/** The go-plugin health service name a plugin reports SERVING for. */
export const HEALTH_SERVICE_NAME = "plugin";

export type PluginAddress =
  | { network: "unix"; path: string }
  | { network: "tcp"; host: string; port: number };

export interface Handshake {
  coreVersion: number;
  appVersion: number;
  address: PluginAddress;
  /** Base64 DER server certificate (go-plugin AutoMTLS); drover does not use TLS on loopback yet. */
  serverCert: string | undefined;
  multiplexing: boolean;
}

/** Why a handshake line was refused. The launcher adds the other failure kinds (timeout, early exit). */
export type HandshakeProblem =
  | { kind: "malformed"; line: string; reason: string }
  | { kind: "core_version"; got: string }
  | { kind: "no_common_version"; offered: readonly number[]; got: number }
  | { kind: "not_grpc"; protocol: string };

export type HandshakeParse = { ok: true; handshake: Handshake } | { ok: false; problem: HandshakeProblem };

/**
 * Parses the plugin's handshake line. Accepts go-plugin's variants: a trailing `|` (empty 6th
 * field, printed by stock go-plugin 1.x), an empty or present certificate field, and a 7th
 * multiplexing field. Surrounding whitespace (CRLF) is ignored.
 */
export function parseHandshake(
  rawLine: string,
  offered: readonly number[] = APP_PROTOCOL_VERSIONS,
): HandshakeParse {
  const line = rawLine.trim();
  const malformed = (reason: string): HandshakeParse => ({
    ok: false,
    problem: { kind: "malformed", line, reason },
  });
  const fields = line.split("|");
  if (fields.length < 5 || fields.length > 7) {
    return malformed(`expected 5 to 7 fields separated by "|", got ${fields.length}`);
  }
  const [core, app, network, address, protocol, cert, mux] = fields as [
    string,
    string,
    string,
    string,
    string,
    string?,
    string?,
  ];
  if (!/^\d+$/.test(core)) return malformed(`core protocol version ${JSON.stringify(core)} is not a number`);
  if (Number(core) !== CORE_PROTOCOL_VERSION)
    return { ok: false, problem: { kind: "core_version", got: core } };
  if (!/^\d+$/.test(app)) return malformed(`app protocol version ${JSON.stringify(app)} is not a number`);
  const appVersion = Number(app);
  if (!offered.includes(appVersion)) {
    return { ok: false, problem: { kind: "no_common_version", offered, got: appVersion } };
  }
  if (protocol !== "grpc") return { ok: false, problem: { kind: "not_grpc", protocol } };
  let parsedAddress: PluginAddress;
  if (network === "unix") {
    if (!address.startsWith("/"))
      return malformed(`unix socket path ${JSON.stringify(address)} is not absolute`);
    parsedAddress = { network: "unix", path: address };
  } else if (network === "tcp") {
    const match = /^(127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})$/.exec(address);
    if (!match) return malformed(`tcp address ${JSON.stringify(address)} is not a loopback host:port`);
    const port = Number(match[2]);
    if (port < 1 || port > 65535) return malformed(`tcp port ${port} is out of range`);
    parsedAddress = { network: "tcp", host: match[1]!, port };
  } else {
    return malformed(`network ${JSON.stringify(network)} is neither "unix" nor "tcp"`);
  }
  if (mux !== undefined && mux !== "" && mux !== "true" && mux !== "false") {
    return malformed(`multiplexing field ${JSON.stringify(mux)} is neither "true" nor "false"`);
  }
  return {
    ok: true,
    handshake: {
      coreVersion: CORE_PROTOCOL_VERSION,
      appVersion,
      address: parsedAddress,
      serverCert: cert === undefined || cert === "" ? undefined : cert,
      multiplexing: mux === "true",
    },
  };
}

/** The line a plugin prints (the SDK's side). */
export function formatHandshake(appVersion: number, address: PluginAddress): string {
  const where = address.network === "unix" ? address.path : `${address.host}:${address.port}`;
  return `${CORE_PROTOCOL_VERSION}|${appVersion}|${address.network}|${where}|grpc`;
}

/** The grpc-js target for an address. */
export function grpcTarget(address: PluginAddress): string {
  return address.network === "unix" ? `unix://${address.path}` : `${address.host}:${address.port}`;
}

/** The highest version both sides speak, go-plugin style; undefined when there is none. */
export function negotiateVersion(
  offeredByCore: readonly number[],
  supportedByPlugin: readonly number[],
): number | undefined {
  const common = supportedByPlugin.filter((v) => offeredByCore.includes(v));
  return common.length ? Math.max(...common) : undefined;
}

/** Parses PLUGIN_PROTOCOL_VERSIONS ("1,2"); garbage entries are dropped. */
export function parseVersionList(value: string | undefined): number[] {
  if (!value) return [];
  return value
    .split(",")
    .map((v) => v.trim())
    .filter((v) => /^\d+$/.test(v))
    .map(Number);
}
