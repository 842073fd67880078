# Messenger: set up, test and run. `make run` and `make test` work on a fresh Debian 12
# machine with Python 3.11; CI runs `make test` (see .ci/run).

PYTHON ?= python3
VENV = .venv
BIN = $(VENV)/bin

# Extra arguments, e.g. `make test PYTEST_ARGS='-k pairing -x'`, `make sysdeps SYSDEPS_ARGS=--x11`.
PYTEST_ARGS ?=
SYSDEPS_ARGS ?=

.DEFAULT_GOAL := test
.PHONY: venv sysdeps test run server lint clean

# Debian packages Qt needs (offscreen); runs no apt-get when they are all present.
sysdeps:
	PYTHON=$(PYTHON) bash .ci/install-sysdeps.sh $(SYSDEPS_ARGS)

venv: $(VENV)/.installed

# Rebuilt only when pyproject.toml changes. sysdeps is order-only: it must run first (on
# Debian's python3 it provides python3-venv) but does not make the stamp out of date.
$(VENV)/.installed: pyproject.toml | sysdeps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

test: sysdeps venv
	$(BIN)/ruff check messenger server tests
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The GUI lands in a later issue; until then `python -m messenger` starts a local relay.
run: sysdeps venv
	$(BIN)/python -m messenger

server: venv
	$(BIN)/messenger-server --host 127.0.0.1 --port 5555

lint: venv
	$(BIN)/ruff check messenger server tests

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache .hypothesis *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
