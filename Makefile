# Two commands for a newcomer: `make demo` and `make test`. Each sets itself up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
export AWS_EC2_METADATA_DISABLED := true
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: demo test test-slow lint setup postgres shellcheck chromium benchmarks clean

setup: $(VENV)/.installed

# --no-compile keeps the venv small (under 700 MB); Python compiles what it imports anyway.
# setup.py builds the C part of the extract's split (scripts/mmeops/extract/_fastsplit.c) in place.
$(VENV)/.installed: pyproject.toml setup.py scripts/mmeops/extract/_fastsplit.c
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
		|| { echo "mmeops needs Python >= 3.10 (found $(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check --no-compile -e '.[local,dev]'
	touch $@

postgres:
	@bash scripts/ensure-postgres.sh

# actionlint runs shellcheck on every workflow script when it is on PATH.
shellcheck:
	@bash scripts/ensure-shellcheck.sh

# The HTML monitoring report's test renders the page in headless Chromium.
chromium:
	@bash scripts/ensure-chromium.sh

demo: setup postgres
	$(BIN)/mmeops demo
	@echo "Next: ./mmeops --help (this clone's mmeops; or: source $(BIN)/activate)"

# The fast tier: everything but the long scenarios and fault loops (a few minutes).
test: setup postgres shellcheck chromium
	$(BIN)/pytest -q -m "not slow"

# The slow tier: whole-loop scenarios and fault loops (kills, races, a full disk, a frozen AWS).
test-slow: setup postgres shellcheck
	$(BIN)/pytest -q -m slow

lint: setup shellcheck
	$(BIN)/ruff check scripts tests benchmarks
	$(BIN)/ruff format --check scripts tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mmeops validate
	$(BIN)/zizmor --offline --quiet .github/workflows actions
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-actions actions/*/action.yml
	$(BIN)/actionlint
	$(BIN)/cfn-lint infra/bootstrap.yaml
	$(BIN)/cfn-lint infra/invoker.yaml
	shellcheck infra/build-invoker.sh

benchmarks: setup postgres
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	-$(BIN)/mmeops stack down 2>/dev/null
	rm -rf $(VENV) .pytest_cache .ruff_cache .mmeops build scripts/mmeops/*/_fastsplit.*.so scripts/mmeops/train
