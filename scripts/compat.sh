#!/usr/bin/env bash
# make compat: the unit, functional and integration tests against each older Salt release
# users still run (3006 LTS, 3007), each in its own venv (.venv-compat/<version>).
# Usage: scripts/compat.sh [version ...]   (default: every requirements/compat-*.txt)
# Prints one summary line per release and exits non-zero if any release failed.
set -uo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
if [[ ${#versions[@]} -eq 0 ]]; then
  for pins in requirements/compat-*.txt; do
    version=${pins#requirements/compat-}
    versions+=("${version%.txt}")
  done
fi
selection="unit or functional or integration"
declare -a summary
status=0
for version in "${versions[@]}"; do
  scripts/setup-compat-venv.sh "$version" || { summary+=("Salt $version: venv setup failed"); status=1; continue; }
  python=.venv-compat/$version/bin/python
  log=.venv-compat/$version/pytest.log
  echo "=== Salt $("$python" -c 'import salt.version; print(salt.version.__saltstack_version__)'): pytest -m \"$selection\""
  start=$SECONDS
  "$python" -m pytest -m "$selection" -p no:cacheprovider tests 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  [[ $rc -eq 5 ]] && rc=0   # nothing collected is not a failure (as scripts/pytest.sh)
  counts=$(grep -E '^=+ .*(passed|failed|error).* in ' "$log" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
  summary+=("Salt $version: ${counts:-no summary} (exit $rc, $((SECONDS - start)) s)")
  [[ $rc -eq 0 ]] || status=1
done
echo "=== make compat"
printf '%s\n' "${summary[@]}"
exit $status
