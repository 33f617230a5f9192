/**
 * A job from command lines (`drover exec -- 'make test' ...`, README.md, "Usage"): no repository
 * (GIT_STRATEGY=none), one `script` step, run in the user's current directory.
 */

import { basename } from "node:path";
import { DroverError } from "../../kernel/errors.ts";
import type { Job } from "./model.ts";
import { jobFromPayload } from "./parse.ts";

/**
 * Builds the job as the GitLab JSON a coordinator would send and reads it back through the parser, so
 * an ad-hoc job has every default a file job has and `payload` is a real job description (a custom
 * executor driver gets it as `JOB_RESPONSE_FILE`).
 */
export function adHocJob(commands: string[], opts: { cwd: string; id: string }): Job {
  if (commands.length === 0) throw new DroverError("usage", "exec: no command given after --");
  const projectName = basename(opts.cwd) || "exec";
  const payload = {
    id: opts.id,
    token: "",
    job_info: { name: "exec", stage: "test", project_id: 0, project_name: projectName },
    variables: [{ key: "GIT_STRATEGY", value: "none", public: true, masked: false, file: false, raw: false }],
    steps: [{ name: "script", script: commands, when: "on_success", allow_failure: false }],
  };
  return { ...jobFromPayload(payload, "the exec command line"), adHoc: { cwd: opts.cwd } };
}
