# Two commands for a new user: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv test lint demo clean

# A failed install removes the half-made venv, so the next run starts over.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	{ $(BIN)/python -m pip install --quiet --upgrade pip \
		&& $(BIN)/python -m pip install --quiet -e '.[dev]'; } || { rm -rf $(VENV); exit 1; }

venv: $(BIN)/python

test: venv
	$(BIN)/python -m pytest -q

# The offline demo: the real bot against local Fly and Telegram emulators, no accounts needed.
demo: venv
	$(BIN)/python -m bot demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict bot flyclient storage emulators

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
