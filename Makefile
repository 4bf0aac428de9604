# The two commands a new user needs (see README.md):
#   make up    - set up on first use, ingest the demo city and serve it
#   make test  - set up on first use, run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test test-fast test-slow lint bench clean

$(STAMP): pyproject.toml constraints.txt dashboards/vendor.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all]'
	$(BIN)/python -m dashboards.vendor
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/assetmap up

# the tests that start no server or browser on both cores (pytest-xdist), with the slow ones that
# time nothing (marked concurrent: they mostly wait on their servers and browser; each module on
# one worker, so its servers start once); then the other slow ones one at a time (they time
# servers and sessions, and would compete for the cores), beside the deployment guide's test
# (mostly waiting on heartbeats and leases)
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow or concurrent" -n 2 --dist loadgroup
	$(BIN)/python -m pytest -m "slow and not concurrent" -n 2 --dist loadgroup

# ruff (the rule set in pyproject.toml), mypy and the import contracts (tool.importlinter), all
# clean; .ci/run runs this before the tests
lint: $(STAMP)
	$(BIN)/ruff check assetmap pipelines dashboards tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n 2

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/analysis.py
	$(BIN)/python benchmarks/network.py
	$(BIN)/python benchmarks/transit.py
	$(BIN)/python benchmarks/events.py
	$(BIN)/python benchmarks/partnership.py
	$(BIN)/python benchmarks/dashboard.py
	$(BIN)/python benchmarks/workshop.py
	$(BIN)/python benchmarks/commands.py

clean:
	rm -rf .assetmap geodata/demo test-output
