#!/usr/bin/env bash
# prepare_exec: create the job's directory. Runs once per job; a failure here is a system failure
# (the runner retries prepare up to three times, running cleanup in between).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/common.sh"

: "${DRIVER_JOB_DIR:?DRIVER_JOB_DIR is not set: config_exec did not run}"
command -v bash >/dev/null || system_failure "bash is not installed"
mkdir -p "$DRIVER_JOB_DIR/builds" "$DRIVER_JOB_DIR/home" "$DRIVER_BASE_DIR/cache" ||
  system_failure "cannot create $DRIVER_JOB_DIR"
chmod 700 "$DRIVER_JOB_DIR" || system_failure "cannot restrict $DRIVER_JOB_DIR"
echo "Job directory: $DRIVER_JOB_DIR"
