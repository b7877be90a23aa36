# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp names the interpreter the venv was built for: after a Python upgrade (or with another
# PYTHON) it is missing, and the venv is checked and rebuilt instead of failing on a stale one.
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
STAMP := $(VENV)/.installed-python-$(PYTHON_VERSION)
SCENARIO ?= demo

.PHONY: demo serve scenarios test lint format bench golden clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if ! $(BIN)/python -c 'import sys; sys.exit("%d.%d.%d" % sys.version_info[:3] != "$(PYTHON_VERSION)")' 2>/dev/null; then \
		echo "creating $(VENV) for Python $(PYTHON_VERSION)"; \
		rm -rf $(VENV); \
		$(PYTHON) -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed*
	touch $(STAMP)

# make demo                         the broken key policy of the reference incident
# make demo SCENARIO=key-disabled   any scenario of `make scenarios`
demo: $(STAMP)
	$(BIN)/python -m moto_fixtures.sandbox demo $(SCENARIO)

# Keep a moto server with the scenario running; prints the lines to paste into another shell.
serve: $(STAMP)
	$(BIN)/python -m moto_fixtures.sandbox serve $(SCENARIO)

scenarios: $(STAMP)
	$(BIN)/python -m moto_fixtures.sandbox list

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

# Rewrite the golden text reports (tests/report/golden/) after an intended change of the report;
# review the diff before committing it.
golden: $(STAMP)
	KMSDOCTOR_UPDATE_GOLDEN=1 $(BIN)/python -m pytest tests/report/test_golden_reports.py -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
