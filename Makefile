# cardgate: `make demo` runs the appliance on simulated modems, `make test` runs every test,
# `sudo make install` installs it on Raspberry Pi OS / Debian 12 (systemd/install.sh says where
# everything goes), `sudo make uninstall` removes it but keeps settings and data (PURGE=1: those
# too). `make install DESTDIR=/tmp/stage` stages the same tree and touches nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean system-deps install uninstall

# Debian's python3 has no ensurepip until python3-venv is installed: do it when we may.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "cardgate needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
	    && $(PYTHON) -m venv $(VENV); \
	  else echo "install python3-venv (sudo apt-get install python3-venv) and run make again"; \
	    exit 1; fi; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cardgate demo --modems 4

system-deps:
	@bash tests/install-system-deps.sh

# Whole files per worker (--dist loadfile: a module's fixtures are made once). Three workers
# even on two cores: most tests wait on pseudo-terminals, sockets and timers, not the CPU.
TEST_WORKERS ?= 3

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m tests.bench

lint: $(STAMP)
	$(BIN)/ruff check appliance tests

# DESTDIR: stage under it; CONSOLE=ttyAMA0: enable the technician console on that line;
# PACKAGE, PIP_ARGS: what pip installs into /opt/cardgate and how (tests: a wheel, offline).
install:
	@DESTDIR="$(DESTDIR)" PYTHON="$(PYTHON)" PACKAGE="$(PACKAGE)" PIP_ARGS="$(PIP_ARGS)" \
	  CONSOLE="$(CONSOLE)" bash systemd/install.sh install

uninstall:
	@DESTDIR="$(DESTDIR)" PURGE="$(PURGE)" bash systemd/install.sh uninstall

clean:
	rm -rf $(VENV) build *.egg-info demo-data
