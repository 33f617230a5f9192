#!/usr/bin/env bash
# config_exec: tell the runner where this job lives. Prints JSON on stdout; anything for the person
# reading the job log goes to stderr. Creates nothing: prepare does.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/common.sh"

base=$(driver_base_dir)
job_id="${CUSTOM_ENV_CI_JOB_ID:?CUSTOM_ENV_CI_JOB_ID is not set: run me as a custom executor driver}"
case "$job_id" in *[!A-Za-z0-9_-]*) system_failure "unexpected job id ${job_id@Q}" ;; esac
job_dir="$base/jobs/job-$job_id"

# job_env: every later stage (prepare, run, cleanup) gets these as plain environment variables,
# so they need not work the paths out again.
cat <<JSON
{
  "builds_dir": $(json_string "$job_dir/builds"),
  "cache_dir": $(json_string "$base/cache"),
  "builds_dir_is_shared": false,
  "driver": { "name": "drover-example", "version": "1.0.0" },
  "job_env": {
    "DRIVER_BASE_DIR": $(json_string "$base"),
    "DRIVER_JOB_DIR": $(json_string "$job_dir")
  }
}
JSON
