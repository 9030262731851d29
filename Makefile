# onenebula-ha — the README names these targets.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
PYTEST := scripts/pytest.sh

.PHONY: help setup setup-system setup-venv test check compat lint demo chaos bench lab-down clean

help:
	@echo "make demo   - set up, bring up the 5-front-end lab, deploy, fail over, tear down"
	@echo "make test   - set up and run the full suite (unit, functional, integration, e2e)"
	@echo "make check  - the quick subset (unit + functional)"
	@echo "make compat - unit, functional and integration tests on Salt 3006 and 3007"
	@echo "make chaos  - randomized faults on a deployed lab, audits, timeline picture (SEED=n)"
	@echo "make bench  - the benchmarks (bench/)"
	@echo "make lint   - ruff, yamllint, salt-lint"

setup: setup-system setup-venv

setup-system:
	@scripts/setup-system.sh

setup-venv:
	@scripts/setup-venv.sh

test: setup
	$(PYTEST) tests

check: setup
	$(PYTEST) -m "unit or functional" tests

# One venv per older Salt release (.venv-compat/<version>, pins in requirements/compat-*.txt).
compat: setup-system
	scripts/compat.sh

lint: setup-venv
	$(PYTEST) tests/unit/test_lint.py

demo: setup
	$(PY) -m onelab.demo

# SEED=n (or SEED=random) for another seed than 1127; results and the timeline picture go to bench/results/chaos/.
chaos: setup
	$(PY) -m onelab.chaos $(if $(SEED),--seed $(SEED))

bench: setup
	$(PY) -m bench

lab-down: setup-venv
	$(PY) -m onelab.cli down

clean:
	rm -rf $(VENV) .venv-compat build *.egg-info
