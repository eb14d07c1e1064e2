# Two commands matter on a fresh machine: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt migrate bench reliability fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `make run PORT=8001 HOST=0.0.0.0` (or the PORT/HOST settings) changes where it listens.
run: $(STAMP)
	$(BIN)/llma serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy app
	$(BIN)/hadolint Dockerfile

fmt: $(STAMP)
	$(BIN)/ruff check --fix app tests bench
	$(BIN)/ruff format app tests bench

migrate: $(STAMP)
	$(BIN)/llma migrate

bench: $(STAMP)
	$(BIN)/python -m bench.run

reliability: $(STAMP)
	$(BIN)/python -m pytest -q -m reliability

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
