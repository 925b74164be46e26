# Two commands for a new machine: `make run` and `make test`. Everything they need is installed from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export CARTGOV_DATABASE_URL ?= sqlite:///var/cartgov.db

.PHONY: run test lint lock sample bench clean

# Installed from the lockfile (the versions CI tested, with their hashes), then the project itself.
$(BIN)/cartgov: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

PORT ?= 8501

## run: install, seed the synthetic sample into the store if needed, serve on http://localhost:$(PORT) (make run PORT=8611)
run: $(BIN)/cartgov
	$(BIN)/cartgov seed
	$(BIN)/cartgov serve --port $(PORT)

## test: install, make sure Chromium, nginx and PostgreSQL are there, run the whole suite
test: $(BIN)/cartgov
	scripts/ensure-chromium
	scripts/ensure-nginx
	scripts/ensure-axe
	@CARTGOV_TEST_DATABASE_URL="$${CARTGOV_TEST_DATABASE_URL:-$$(scripts/ensure-postgres)}" \
	  $(BIN)/python -m pytest -n 2 --dist loadfile --durations=15

## lint: formatting, ruff's rules and the type checker, as CI runs them
lint: $(BIN)/cartgov
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

## lock: recompile requirements.lock from pyproject.toml (after changing a dependency)
lock: $(BIN)/cartgov
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra test --generate-hashes --no-header --python-version 3.11 \
	  --python-platform x86_64-unknown-linux-gnu -o requirements.lock

## sample: regenerate sample_data/ (3,000 infusions to 2026-09-30, and the broken submission)
sample: $(BIN)/cartgov
	$(BIN)/python -c "from pathlib import Path; from dashboard.synthetic import write_sample; write_sample(Path('sample_data'))"

bench: $(BIN)/cartgov
	$(BIN)/python bench/run.py

clean:
	rm -rf var .pytest_cache
