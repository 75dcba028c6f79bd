# Two commands for a new user: `make demo` and `make test`. Each sets itself up.
# `make test-fast` is the loop to live in (minutes); `make test` runs everything CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST := $(BIN)/python -m pytest -q
TYPED := bot flyclient storage emulators

.PHONY: venv test test-fast test-slow openclaw lint typecheck lock demo clean

# A failed install removes the half-made venv, so the next run starts over.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	{ $(BIN)/python -m pip install --quiet --upgrade pip \
		&& $(BIN)/python -m pip install --quiet -e '.[dev]'; } || { rm -rf $(VENV); exit 1; }

venv: $(BIN)/python

# Everything but the suites marked slow (tests/conftest.py SLOW_SUITES): real OpenClaw, fresh
# clone, bench smoke, clean-venv install. One pytest-xdist worker per core (WORKERS=0: all in one
# process): the tests wait on emulators and subprocesses more than they compute.
WORKERS ?= auto
test-fast: venv
	$(PYTEST) -m "not slow" -n $(WORKERS)

# Only the slow suites, in one process: the real-runtime tests keep their own budget of running
# gateways (~0.8 GB each), which parallel workers would multiply.
test-slow: venv openclaw
	$(PYTEST) -m slow

# The whole suite, real-runtime tests included, each test once: what CI runs.
test: test-fast test-slow

# The real OpenClaw runtime (Node 24 + the pinned openclaw) for the real-mode tests, installed
# with npm into .openclaw-cache/ (or $FLYAGENTS_OPENCLAW_CACHE) once, then reused. Without npm
# those tests skip, and their skip reason says how to install it.
openclaw:
	@if command -v npm > /dev/null; then \
		bash scripts/install-openclaw.sh > /dev/null; \
	else \
		echo "npm not found: the real-OpenClaw tests will be skipped (install npm, e.g. apt-get install npm)"; \
	fi

# The offline demo: the real bot against local Fly and Telegram emulators, no accounts needed.
demo: venv
	$(BIN)/python -m bot demo

# Style, format and types (all strict: pyproject.toml) of the product, the tests and the bench.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck

# tests/ one folder per mypy run: each folder's conftest.py is a top-level module `conftest`.
typecheck: venv
	$(BIN)/mypy --strict $(TYPED) bench
	$(BIN)/mypy tests/*.py
	@for folder in tests/*/; do echo "mypy $$folder"; $(BIN)/mypy $$folder || exit 1; done

# Pins the runtime dependencies with their hashes (what the Dockerfile installs); run it after
# changing `dependencies` in pyproject.toml and commit requirements.lock.
lock: venv
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
		--output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
