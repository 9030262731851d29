#!/usr/bin/env bash
# Creates .venv with the exact pins of requirements/lock.txt and the project in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
stamp=.venv/.lock-installed
if [[ -f $stamp ]] && cmp -s requirements/lock.txt "$stamp"; then
  exit 0
fi
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/pip install -q --upgrade pip==25.3 || .venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -r requirements/lock.txt
.venv/bin/pip install -q --no-deps -e .
cp requirements/lock.txt "$stamp"
