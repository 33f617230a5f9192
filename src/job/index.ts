/**
 * The job domain: what a job is (model), how it is read (parse, adhoc), its variables, its stage plan,
 * and the bash script of each stage.
 */

export { adHocJob } from "./adhoc.ts";
export { parseDuration } from "./duration.ts";
export { findJsonSyntaxError, type JsonSyntaxError } from "./json.ts";
export type {
  ArtifactSpec,
  CachePolicy,
  CacheSpec,
  GitInfo,
  ImageSpec,
  Job,
  JobDependency,
  JobStep,
  JobVariable,
  PlannedStage,
  ScriptContext,
  StageName,
  When,
} from "./model.ts";
export { DEFAULT_JOB_TIMEOUT_SECONDS, defaultRefspecs, jobFromPayload, parseJob } from "./parse.ts";
export {
  cachesToArchive,
  cachesToRestore,
  DEFAULT_AFTER_SCRIPT_TIMEOUT_SECONDS,
  planStages,
  stageForStep,
  stepForStage,
} from "./plan.ts";
export { projectDirFor, projectPathOf } from "./project.ts";
export {
  cacheKey,
  fileVariablePath,
  type GitStrategy,
  gitStrategy,
  quote,
  renderStageScript,
} from "./script/index.ts";
export {
  allVariables,
  maskedValues,
  predefinedVariables,
  slugify,
  type VariableContext,
} from "./variables.ts";
