# Messenger: set up, test and run. `make run` and `make test` work on a fresh Debian 12
# machine with Python 3.11; CI runs `make test` (see .ci/run).

PYTHON ?= python3
VENV = .venv
BIN = $(VENV)/bin

# Extra arguments, e.g. `make test PYTEST_ARGS='-k pairing -x'`, `make sysdeps SYSDEPS_ARGS=--x11`.
PYTEST_ARGS ?=
SYSDEPS_ARGS ?=

.DEFAULT_GOAL := test
.PHONY: venv sysdeps test run server lint clean bundle bundle-test screenshots

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
	$(BIN)/mypy
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q --ignore=tests/gui $(PYTEST_ARGS)
	# The GUI suite gets its own process: its session-wide qasync loop counts as "running",
	# which breaks asyncio.run() in any non-GUI test that comes after it.
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q tests/gui $(PYTEST_ARGS)
	$(MAKE) --no-print-directory bundle-test

# The desktop app (needs a display; with no server configured it can host one itself).
run: sysdeps venv
	$(BIN)/python -m messenger

server: venv
	$(BIN)/messenger-server --host 127.0.0.1 --port 5555

lint: venv
	$(BIN)/ruff check messenger server tests
	$(BIN)/mypy

# The PyInstaller app (docs/packaging.md): dist/Messenger/Messenger, one folder.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
BUNDLE = dist/Messenger/Messenger
ARCHIVE = Messenger-$(VERSION)-linux-x86_64.tar.gz
BUNDLE_INPUTS := build.spec pyproject.toml \
	$(shell find messenger server resources -type f ! -path '*/__pycache__/*' 2>/dev/null)
PYINSTALLER = PYTHONHASHSEED=0 SOURCE_DATE_EPOCH=0 $(BIN)/pyinstaller --clean --noconfirm --log-level WARN build.spec
# On Linux PyInstaller needs objdump, and strip for the spec's strip=True (both: binutils).
NEED_BINUTILS = @command -v objdump >/dev/null && command -v strip >/dev/null || \
	{ echo "PyInstaller needs objdump and strip: apt-get install binutils" >&2; exit 1; }

# Always a clean build, then a reproducible-ish archive (sorted names, fixed times and
# owners, gzip without a timestamp) and its SHA-256 in `sha256sum -c` format.
bundle: sysdeps venv
	$(NEED_BINUTILS)
	$(PYINSTALLER)
	rm -f dist/$(ARCHIVE) dist/$(ARCHIVE).sha256
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u+rwX,go=rX \
		--use-compress-program='gzip -n' -cf dist/$(ARCHIVE) -C dist Messenger
	cd dist && sha256sum $(ARCHIVE) > $(ARCHIVE).sha256
	@du -sh dist/Messenger
	@du -sh dist/$(ARCHIVE)
	@cat dist/$(ARCHIVE).sha256

# Rebuilt only when the code, resources, spec or dependencies change.
$(BUNDLE): $(BUNDLE_INPUTS) $(VENV)/.installed | sysdeps
	$(NEED_BINUTILS)
	$(PYINSTALLER)
	touch $@

# Runs the built app (--self-test, --server-only); `make test` ends with this.
bundle-test: $(BUNDLE)
	$(BIN)/python -m pytest -q tests/bundle

# README screenshots: two profiles talking, in real windows under Xvfb, light and dark.
screenshots: venv
	bash .ci/install-sysdeps.sh --x11
	for theme in light dark; do \
		MESSENGER_THEME=$$theme xvfb-run -a -s "-screen 0 1280x800x24" \
			$(BIN)/python -m tests.screenshots.capture || exit 1; \
	done

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache .hypothesis *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
