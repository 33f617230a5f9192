/** The Configure that the benchmarks driving an executor directly (d, f) start each job with. */
import { ResultKind } from "../../kernel/gen/drover/plugin/v1/job_pb.ts";
import type { ExecutorClient } from "../../kernel/protocol/clients.ts";

/** Configures `jobId` with an empty job payload and no runner settings; throws unless it succeeds. */
export async function configureBenchJob(executor: ExecutorClient, jobId: string): Promise<void> {
  for await (const e of executor.configure({
    job: {
      jobId,
      jobName: "bench",
      jobJson: new TextEncoder().encode("{}"),
      runnerName: "bench",
      runnerSettingsJson: "{}",
    },
  })) {
    if (e.event.case === "result" && e.event.value.status?.kind !== ResultKind.SUCCESS)
      throw new Error(`Configure failed: ${e.event.value.status?.message}`);
  }
}
