/**
 * CI_DEBUG_SERVICES=true: each service's output, followed from its start (`logs -f`), goes into the
 * job log as GitLab prints it, `[service:NAME-ALIAS] line`, between the job's own output chunks.
 * Lines are held until the next chance to send them (a stage's output, its end, Prepare's end).
 */
import { output, type StageEventInit } from "@drover/plugin-sdk";
import type { ContainerCli } from "./cli.ts";
import type { ServiceSpec } from "./services.ts";

/** The most a held log keeps before dropping its oldest lines (a chatty service, a long stage). */
const MAX_HELD_LINES = 10_000;

export class ServiceLogs {
  readonly #cli: ContainerCli;
  readonly #enabled: boolean;
  readonly #followers: Array<{ kill(): void }> = [];
  #held: string[] = [];
  #dropped = 0;

  constructor(cli: ContainerCli, enabled: boolean) {
    this.#cli = cli;
    this.#enabled = enabled;
  }

  follow(service: ServiceSpec): void {
    if (!this.#enabled) return;
    const prefix = `[service:${service.image.name.replace(/[:@].*$/, "")}-${service.aliases.at(-1) ?? service.index}] `;
    const follower = this.#cli.stream(["logs", "-f", service.container]);
    this.#followers.push(follower);
    for (const stream of [follower.stdout, follower.stderr]) {
      let partial = "";
      stream?.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString("utf8")).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) this.#hold(`${prefix}${line}\n`);
      });
    }
  }

  /** A line of the plugin's own about the services, sent with their logs. */
  note(line: string): void {
    this.#held.push(`WARNING: ${line}\n`);
  }

  /** What the services printed since the last drain, as one output event (or none). */
  *drain(): Generator<StageEventInit> {
    if (this.#dropped) {
      this.#held.unshift(`[service logs: ${this.#dropped} line(s) dropped]\n`);
      this.#dropped = 0;
    }
    if (this.#held.length) yield output("stdout", this.#held.splice(0).join(""));
  }

  stop(): void {
    for (const follower of this.#followers.splice(0)) follower.kill();
  }

  #hold(line: string): void {
    this.#held.push(line);
    if (this.#held.length > MAX_HELD_LINES) {
      this.#held.shift();
      this.#dropped++;
    }
  }
}
