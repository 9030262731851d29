#!/usr/bin/env bash
# Runs pytest from the venv. Exit 5 ("no tests collected", e.g. an empty marker group) is
# not a failure for this project; every other non-zero exit is.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "pytest: no tests collected for this selection (exit 5 treated as success)"
  exit 0
fi
exit $rc
