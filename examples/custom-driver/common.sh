# Shared by the four driver stages (sourced, not run).
#
# Every job gets its own directory, <base>/jobs/job-<job id>/, holding its builds dir and its own
# HOME; nothing a job leaves behind is seen by another job. <base> is $DRIVER_BASE_DIR, else
# /tmp/drover-custom-driver. The cache dir, <base>/cache, is shared on purpose (that is what a
# cache is for).

set -uo pipefail

driver_base_dir() {
  printf '%s' "${DRIVER_BASE_DIR:-/tmp/drover-custom-driver}"
}

# A string as a JSON string (paths may hold quotes or backslashes).
json_string() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}

# A system failure: the runner retries where the stage allows it, and says it was not the job's fault.
system_failure() {
  echo "custom-driver: $*" >&2
  exit "${SYSTEM_FAILURE_EXIT_CODE:-2}"
}
