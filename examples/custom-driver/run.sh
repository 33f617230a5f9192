#!/usr/bin/env bash
# run_exec <script> <stage>: run one stage's script (prepare_script, get_sources, build_script,
# after_script, ...) with bash, inside the job's directory, HOME being the job's own.
#
# The exit code contract: 0 when the script succeeded; when it failed, its exit code goes into
# BUILD_EXIT_CODE_FILE (so the job reports the script's real code, e.g. 42, and `allow_failure:
# exit_codes` works) and the driver exits BUILD_FAILURE_EXIT_CODE; a problem of the driver itself
# is SYSTEM_FAILURE_EXIT_CODE.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/common.sh"

script="${1:?usage: run.sh <script> <stage>}"
stage="${2:?usage: run.sh <script> <stage>}"
[ -d "${DRIVER_JOB_DIR:-}" ] || system_failure "no job directory for $stage: did prepare run?"
cd "$DRIVER_JOB_DIR" || system_failure "cannot enter $DRIVER_JOB_DIR"

HOME="$DRIVER_JOB_DIR/home" bash "$script"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "$rc" >"$BUILD_EXIT_CODE_FILE"
  exit "$BUILD_FAILURE_EXIT_CODE"
fi
