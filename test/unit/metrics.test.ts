/** The Prometheus text exposition and the listen_address forms. */
import { describe, expect, test } from "bun:test";
import { Registry } from "../../src/metrics/registry.ts";
import { parseListenAddress, startMetricsServer } from "../../src/metrics/server.ts";

describe("Registry", () => {
  test("counters, gauges and histograms in the text format, label values escaped", () => {
    const registry = new Registry();
    const jobs = registry.counter("jobs_total", "Jobs.", ["runner", "state"]);
    jobs.inc({ runner: 'a "quoted"\\name', state: "success" });
    jobs.inc({ runner: 'a "quoted"\\name', state: "success" }, 2);
    registry.gauge("running", "Running now.", [], () => [[{}, 3]]);
    const took = registry.histogram("took_seconds", "Durations.", ["runner"], [1, 0.5]);
    took.observe({ runner: "a" }, 0.7);
    took.observe({ runner: "a" }, 0.2);
    expect(registry.render()).toBe(
      [
        "# HELP jobs_total Jobs.",
        "# TYPE jobs_total counter",
        'jobs_total{runner="a \\"quoted\\"\\\\name",state="success"} 3',
        "# HELP running Running now.",
        "# TYPE running gauge",
        "running 3",
        "# HELP took_seconds Durations.",
        "# TYPE took_seconds histogram",
        'took_seconds_bucket{runner="a",le="0.5"} 1',
        'took_seconds_bucket{runner="a",le="1"} 2',
        'took_seconds_bucket{runner="a",le="+Inf"} 2',
        'took_seconds_sum{runner="a"} 0.8999999999999999',
        'took_seconds_count{runner="a"} 2',
        "",
      ].join("\n"),
    );
  });
});

describe("listen_address", () => {
  test("host:port, :port (every interface), [v6]:port; anything else is refused", () => {
    expect(parseListenAddress("127.0.0.1:9252")).toEqual({ host: "127.0.0.1", port: 9252 });
    expect(parseListenAddress(":9252")).toEqual({ host: undefined, port: 9252 });
    expect(parseListenAddress("[::1]:9252")).toEqual({ host: "::1", port: 9252 });
    expect(() => parseListenAddress("9252")).toThrow('listen_address "9252" is not host:port');
    expect(() => parseListenAddress("host:99999")).toThrow("is not host:port");
  });

  test("serves /metrics and /healthz (503 when not serving, with the report as the body)", async () => {
    let healthy = true;
    const server = await startMetricsServer({
      listenAddress: "127.0.0.1:0",
      render: () => "up 1\n",
      health: () => ({ serving: healthy, report: { status: healthy ? "ok" : "stopping" } }),
    });
    try {
      const metrics = await fetch(`http://${server.address}/metrics`);
      expect(metrics.headers.get("content-type")).toContain("text/plain; version=0.0.4");
      expect(await metrics.text()).toBe("up 1\n");
      expect((await fetch(`http://${server.address}/healthz`)).status).toBe(200);
      healthy = false;
      const stopping = await fetch(`http://${server.address}/healthz`);
      expect(stopping.status).toBe(503);
      expect(await stopping.json()).toEqual({ status: "stopping" });
      expect((await fetch(`http://${server.address}/nope`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
