import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  formatHandshake,
  negotiateVersion,
  parseHandshake,
  parseVersionList,
} from "../../kernel/protocol/handshake.ts";

describe("parseHandshake", () => {
  test("drover's own line", () => {
    expect(parseHandshake("1|1|unix|/tmp/d/plugin.sock|grpc")).toEqual({
      ok: true,
      handshake: {
        coreVersion: 1,
        appVersion: 1,
        address: { network: "unix", path: "/tmp/d/plugin.sock" },
        serverCert: undefined,
        multiplexing: false,
      },
    });
  });

  test("stock go-plugin line with a trailing | and CRLF", () => {
    const parsed = parseHandshake("1|1|unix|/tmp/plugin123|grpc|\r\n");
    expect(parsed).toEqual({
      ok: true,
      handshake: {
        coreVersion: 1,
        appVersion: 1,
        address: { network: "unix", path: "/tmp/plugin123" },
        serverCert: undefined,
        multiplexing: false,
      },
    });
  });

  test("tcp on loopback, certificate and multiplexing fields", () => {
    expect(parseHandshake("1|1|tcp|127.0.0.1:4242|grpc|MIIBcert|true")).toEqual({
      ok: true,
      handshake: {
        coreVersion: 1,
        appVersion: 1,
        address: { network: "tcp", host: "127.0.0.1", port: 4242 },
        serverCert: "MIIBcert",
        multiplexing: true,
      },
    });
  });

  test.each([
    ["", "expected 5 to 7 fields"],
    ["hello world", "expected 5 to 7 fields"],
    ["1|1|unix|/a|grpc|x|true|extra", "expected 5 to 7 fields"],
    ["x|1|unix|/a|grpc", "core protocol version"],
    ["1|y|unix|/a|grpc", "app protocol version"],
    ["1|1|unix|relative.sock|grpc", "not absolute"],
    ["1|1|tcp|10.0.0.1:80|grpc", "not a loopback"],
    ["1|1|tcp|127.0.0.1:99999|grpc", "out of range"],
    ["1|1|udp|/a|grpc", 'neither "unix" nor "tcp"'],
    ["1|1|unix|/a|grpc||maybe", "multiplexing"],
  ])("malformed %p", (line, reason) => {
    const parsed = parseHandshake(line);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.problem.kind).toBe("malformed");
      expect(parsed.problem.kind === "malformed" && parsed.problem.reason).toContain(reason);
    }
  });

  test("wrong core protocol version", () => {
    expect(parseHandshake("2|1|unix|/a|grpc")).toEqual({
      ok: false,
      problem: { kind: "core_version", got: "2" },
    });
  });

  test("no common app protocol version", () => {
    expect(parseHandshake("1|7|unix|/a|grpc", [1, 2])).toEqual({
      ok: false,
      problem: { kind: "no_common_version", offered: [1, 2], got: 7 },
    });
  });

  test("net/rpc plugins are refused", () => {
    expect(parseHandshake("1|1|unix|/a|netrpc")).toEqual({
      ok: false,
      problem: { kind: "not_grpc", protocol: "netrpc" },
    });
  });

  test("format and parse agree", () => {
    const line = formatHandshake(1, { network: "unix", path: "/tmp/x/p.sock" });
    expect(line).toBe("1|1|unix|/tmp/x/p.sock|grpc");
    expect(parseHandshake(line).ok).toBe(true);
  });
});

describe("version negotiation", () => {
  test("highest common version wins", () => {
    expect(negotiateVersion([1, 2, 3], [2, 3, 4])).toBe(3);
    expect(negotiateVersion([1], [2])).toBeUndefined();
  });
  test("PLUGIN_PROTOCOL_VERSIONS parsing drops garbage", () => {
    expect(parseVersionList("1, 2,x,,3")).toEqual([1, 2, 3]);
    expect(parseVersionList(undefined)).toEqual([]);
  });
});

describe("parseHandshake, property-based (faults suite: a plugin may print anything)", () => {
  const field = fc.oneof(
    fc.string(),
    fc.string({ unit: "binary" }),
    fc.constantFrom("1", "2", "0", "01", "unix", "tcp", "grpc", "netrpc", "true", "false", "", " "),
    fc.constantFrom("/tmp/p.sock", "127.0.0.1:1234", "[::1]:99999", "localhost:0", "relative.sock"),
  );
  const lineOf = (fields: string[]) => fields.join("|");

  test("never throws, whatever the line; a refusal always says why", () => {
    const line = fc.oneof(
      fc.string({ unit: "binary", maxLength: 300 }),
      fc.array(field, { maxLength: 9 }).map(lineOf),
      fc.array(field, { minLength: 5, maxLength: 7 }).map(lineOf),
    );
    fc.assert(
      fc.property(line, (text) => {
        const parsed = parseHandshake(text);
        if (!parsed.ok && parsed.problem.kind === "malformed")
          expect(parsed.problem.reason.length).toBeGreaterThan(0);
        if (parsed.ok) expect(parsed.handshake.coreVersion).toBe(1);
      }),
      { numRuns: 3000 },
    );
  });

  test("what the SDK prints for any socket path parses back to that path, with go-plugin's optional fields too", () => {
    const path = fc
      .array(fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 5 })
      .map((parts) => `/${parts.join("/")}`)
      .filter((p) => !p.includes("|") && p === p.trim());
    const tail = fc.constantFrom("", "|", "|cert", "|cert|true", "||false", "\r\n", "|\r\n");
    fc.assert(
      fc.property(path, tail, (socket, extra) => {
        const parsed = parseHandshake(`${formatHandshake(1, { network: "unix", path: socket })}${extra}`);
        expect(parsed.ok && parsed.handshake.address).toEqual({ network: "unix", path: socket });
      }),
      { numRuns: 1000 },
    );
  });

  test("fewer than 5 or more than 7 fields is always malformed, naming the count", () => {
    const count = fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 8, max: 20 }));
    fc.assert(
      fc.property(
        count,
        fc.array(
          fc.string({ maxLength: 5 }).filter((s) => !s.includes("|")),
          { minLength: 20, maxLength: 20 },
        ),
        (n, fields) => {
          const parsed = parseHandshake(lineOf(fields.slice(0, n)));
          expect(parsed).toMatchObject({
            ok: false,
            problem: { kind: "malformed", reason: `expected 5 to 7 fields separated by "|", got ${n}` },
          });
        },
      ),
    );
  });
});
