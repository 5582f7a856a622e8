# The two commands: `make serve` and `make test`. Both set up .venv on first use.
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve test lint typecheck install clean

$(VENV)/.installed: pyproject.toml requirements/constraints.txt scripts/bootstrap.sh
	VENV=$(VENV) bash scripts/bootstrap.sh

install: $(VENV)/.installed

serve: $(VENV)/.installed
	$(BIN)/xactor serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
