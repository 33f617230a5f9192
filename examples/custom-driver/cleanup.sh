#!/usr/bin/env bash
# cleanup_exec: remove the job's directory. Always called, also after a failure, a cancel, a
# timeout or a failed config_exec, and possibly more than once for one job (after every failed
# prepare attempt): so it must be idempotent and must not assume anything was created.
# Its stdout goes to the runner's log at debug level, its stderr at warning level; its result never
# changes the job's status.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/common.sh"

job_dir="${DRIVER_JOB_DIR:-}"
if [ -z "$job_dir" ]; then
  echo "nothing to clean up: config_exec never answered"
  exit 0
fi
# Remove only what this driver creates: a job directory under the base dir.
case "$job_dir" in
"${DRIVER_BASE_DIR:-/nonexistent}"/jobs/job-*) ;;
*) system_failure "refusing to remove ${job_dir@Q}: not a job directory of this driver" ;;
esac
rm -rf -- "$job_dir" || system_failure "cannot remove $job_dir"
rmdir -- "$DRIVER_BASE_DIR/jobs" 2>/dev/null || true
echo "removed $job_dir"
