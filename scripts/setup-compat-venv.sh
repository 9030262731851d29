#!/usr/bin/env bash
# Creates .venv-compat/<salt version> with the exact pins of requirements/compat-<version>.txt
# and the project in editable mode (console scripts oned/onezone/onedb run this checkout).
# Usage: scripts/setup-compat-venv.sh 3006.29
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: $0 <salt version>}
pins=requirements/compat-$version.txt
[[ -f $pins ]] || { echo "no pins for Salt $version ($pins)" >&2; exit 2; }
venv=.venv-compat/$version
python=${PYTHON:-python3}
stamp=$venv/.lock-installed
if [[ -f $stamp ]] && cmp -s "$pins" "$stamp"; then
  exit 0
fi
[[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip==25.3 || "$venv/bin/pip" install -q --upgrade pip
# nice: building wheels (pyzmq, salt's sdist) must not starve the machine's other work.
nice -n 10 "$venv/bin/pip" install -q -r "$pins"
"$venv/bin/pip" install -q --no-deps -e .
cp "$pins" "$stamp"
