/**
 * A minimal Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format (version 0.0.4). Enough for one process's own metrics; no dependency.
 *
 * @example
 *   const registry = new Registry();
 *   const jobs = registry.counter("drover_jobs_total", "Jobs finished.", ["runner", "state"]);
 *   jobs.inc({ runner: "lxd", state: "success" });
 *   registry.render(); // "# HELP drover_jobs_total Jobs finished.\n# TYPE ..."
 */

type Labels<L extends string> = Record<L, string>;

interface Metric {
  render(): string;
}

abstract class Family<L extends string> implements Metric {
  readonly name: string;
  readonly #help: string;
  readonly #type: string;
  protected readonly labelNames: readonly L[];

  constructor(name: string, help: string, type: string, labelNames: readonly L[]) {
    this.name = name;
    this.#help = help;
    this.#type = type;
    this.labelNames = labelNames;
  }

  protected key(labels: Labels<L>): string {
    return JSON.stringify(this.labelNames.map((name) => labels[name]));
  }

  protected labelText(labels: Labels<L>, extra: Record<string, string> = {}): string {
    const pairs = [
      ...this.labelNames.map((name) => [name, labels[name]] as const),
      ...Object.entries(extra),
    ].map(([name, value]) => `${name}="${escapeLabel(value)}"`);
    return pairs.length ? `{${pairs.join(",")}}` : "";
  }

  render(): string {
    const body = this.samples();
    return `# HELP ${this.name} ${this.#help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n# TYPE ${this.name} ${this.#type}\n${body}`;
  }

  protected abstract samples(): string;
}

export class Counter<L extends string = never> extends Family<L> {
  readonly #values = new Map<string, { labels: Labels<L>; value: number }>();

  constructor(name: string, help: string, labelNames: readonly L[]) {
    super(name, help, "counter", labelNames);
  }

  inc(labels: Labels<L>, by = 1): void {
    const key = this.key(labels);
    const entry = this.#values.get(key);
    if (entry) entry.value += by;
    else this.#values.set(key, { labels: { ...labels }, value: by });
  }

  protected samples(): string {
    let out = "";
    for (const { labels, value } of this.#values.values())
      out += `${this.name}${this.labelText(labels)} ${formatNumber(value)}\n`;
    return out;
  }
}

/** A family whose samples are read when scraped, from values owned elsewhere. */
class CollectedFamily<L extends string> extends Family<L> {
  readonly #collect: () => Iterable<[Labels<L>, number]>;

  constructor(
    name: string,
    help: string,
    type: "gauge" | "counter",
    labelNames: readonly L[],
    collect: () => Iterable<[Labels<L>, number]>,
  ) {
    super(name, help, type, labelNames);
    this.#collect = collect;
  }

  protected samples(): string {
    let out = "";
    for (const [labels, value] of this.#collect())
      out += `${this.name}${this.labelText(labels)} ${formatNumber(value)}\n`;
    return out;
  }
}

/** A gauge whose samples are read when scraped (current values owned elsewhere). */
export class Gauge<L extends string = never> extends CollectedFamily<L> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    collect: () => Iterable<[Labels<L>, number]>,
  ) {
    super(name, help, "gauge", labelNames, collect);
  }
}

/** A counter whose totals are read when scraped (e.g. plugin restarts, kept by the plugin hosts). */
export class CollectedCounter<L extends string = never> extends CollectedFamily<L> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    collect: () => Iterable<[Labels<L>, number]>,
  ) {
    super(name, help, "counter", labelNames, collect);
  }
}

export class Histogram<L extends string = never> extends Family<L> {
  readonly #buckets: readonly number[];
  readonly #series = new Map<string, { labels: Labels<L>; counts: number[]; sum: number; count: number }>();

  constructor(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]) {
    super(name, help, "histogram", labelNames);
    this.#buckets = [...buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels<L>, value: number): void {
    const key = this.key(labels);
    let series = this.#series.get(key);
    if (!series) {
      series = { labels: { ...labels }, counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    this.#buckets.forEach((bound, i) => {
      if (value <= bound) series.counts[i]!++;
    });
    series.sum += value;
    series.count++;
  }

  protected samples(): string {
    let out = "";
    for (const { labels, counts, sum, count } of this.#series.values()) {
      this.#buckets.forEach((bound, i) => {
        out += `${this.name}_bucket${this.labelText(labels, { le: formatNumber(bound) })} ${counts[i]}\n`;
      });
      out += `${this.name}_bucket${this.labelText(labels, { le: "+Inf" })} ${count}\n`;
      out += `${this.name}_sum${this.labelText(labels)} ${formatNumber(sum)}\n`;
      out += `${this.name}_count${this.labelText(labels)} ${count}\n`;
    }
    return out;
  }
}

export class Registry {
  readonly #metrics: Metric[] = [];

  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.#add(new Counter<L>(name, help, labelNames));
  }

  gauge<L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[],
    collect: () => Iterable<[Labels<L>, number]>,
  ): Gauge<L> {
    return this.#add(new Gauge<L>(name, help, labelNames, collect));
  }

  collectedCounter<L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[],
    collect: () => Iterable<[Labels<L>, number]>,
  ): CollectedCounter<L> {
    return this.#add(new CollectedCounter<L>(name, help, labelNames, collect));
  }

  histogram<L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: readonly number[],
  ): Histogram<L> {
    return this.#add(new Histogram<L>(name, help, labelNames, buckets));
  }

  /** The text exposition format: what `GET /metrics` answers. */
  render(): string {
    return this.#metrics.map((m) => m.render()).join("");
  }

  #add<M extends Metric>(metric: M): M {
    this.#metrics.push(metric);
    return metric;
  }
}

/** Label values: backslash, double quote and newline escaped (the format's only rule). */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Number.POSITIVE_INFINITY) return "+Inf";
  if (n === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(n);
}
