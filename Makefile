# Two commands for a new machine: `make run` and `make test`. Everything they need is installed from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export CARTGOV_DATABASE_URL ?= sqlite:///var/cartgov.db

.PHONY: run test lint sample bench clean

$(BIN)/cartgov: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

## run: install, seed the synthetic sample into the store if needed, serve on http://localhost:8501
run: $(BIN)/cartgov
	$(BIN)/cartgov seed
	$(BIN)/cartgov serve

## test: install, make sure Chromium and PostgreSQL are there, run the whole suite
test: $(BIN)/cartgov
	scripts/ensure-chromium
	scripts/ensure-axe
	@CARTGOV_TEST_DATABASE_URL="$${CARTGOV_TEST_DATABASE_URL:-$$(scripts/ensure-postgres)}" \
	  $(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(BIN)/cartgov
	$(BIN)/ruff check .

## sample: regenerate sample_data/ (3,000 infusions to 2026-09-30, and the broken submission)
sample: $(BIN)/cartgov
	$(BIN)/python -c "from pathlib import Path; from dashboard.synthetic import write_sample; write_sample(Path('sample_data'))"

bench: $(BIN)/cartgov
	$(BIN)/python bench/run.py

clean:
	rm -rf var .pytest_cache
