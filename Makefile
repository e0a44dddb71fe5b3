# CDT Desk: the two commands on a fresh machine are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo up test test-unit lint asyncapi bench reliability clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)  ## run the reference ward's campaign on embedded infrastructure
	$(BIN)/cdt demo

up: $(STAMP)  ## start the broker, database and the three services
	$(BIN)/cdt up

test: $(STAMP)  ## the whole test suite (real broker and PostgreSQL, started by the tests)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check shared services cdt tests

asyncapi: $(STAMP)  ## regenerate docs/asyncapi/*.json from the code
	$(BIN)/python -m cdt.asyncapi docs/asyncapi

bench: $(STAMP)
	$(BIN)/python -m pytest -q -s tests/bench

reliability: $(STAMP)
	$(BIN)/python -m pytest -q -s tests/reliability

clean:
	rm -rf $(VENV) .cdt tests/artifacts
