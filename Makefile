# The two commands: `make serve` and `make test`. Both set up .venv on first use.
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

VENV_INTEGRATIONS ?= .venv-integrations

.PHONY: serve test test-server test-integrations lint typecheck install clean

$(VENV)/.installed: pyproject.toml requirements/constraints.txt scripts/bootstrap.sh
	VENV=$(VENV) bash scripts/bootstrap.sh

install: $(VENV)/.installed

serve: $(VENV)/.installed
	$(BIN)/xactor serve --host $(HOST) --port $(PORT)

test: test-server test-integrations

# Two passes: most tests on $(WORKERS) pytest-xdist workers (CPU-bound and independent: about half the
# time on 2 cores), then alone the `serial` ones (live servers, browsers and load that time what they
# see against the clock) and the `ray` ones (Ray's threads stay in the process: run last).
WORKERS ?= 2

test-server: $(VENV)/.installed
	$(BIN)/python -m pytest -q -n $(WORKERS) -m "not serial and not ray"
	$(BIN)/python -m pytest -q -m "serial or ray"

# pipecat and LiveKit Agents in their own environment (numpy 2, protobuf 5+), against a real server.
$(VENV_INTEGRATIONS)/.installed: integrations/pyproject.toml integrations/constraints.txt scripts/bootstrap_integrations.sh
	VENV_INTEGRATIONS=$(VENV_INTEGRATIONS) bash scripts/bootstrap_integrations.sh

test-integrations: $(VENV)/.installed $(VENV_INTEGRATIONS)/.installed
	XACTOR_BIN=$(abspath $(BIN))/xactor $(VENV_INTEGRATIONS)/bin/python -m pytest -q integrations/tests

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(VENV_INTEGRATIONS) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
