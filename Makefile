# CDT Desk: the two commands on a fresh machine are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo up test test-unit lint asyncapi bench reliability clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)  ## run the reference ward's campaign on embedded infrastructure
	$(BIN)/cdt demo

up: $(STAMP)  ## start the broker, database and the three services
	$(BIN)/cdt up

test: $(STAMP) system-deps  ## the whole test suite (real broker and PostgreSQL, started by the tests)
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Debian packages the tests drive: promtool/prometheus (metrics and rules) and Chromium (pages).
system-deps:
	@command -v promtool >/dev/null && command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus chromium >/dev/null; \
	  else echo "install Debian's prometheus and chromium packages (as root: make system-deps)"; exit 1; fi; }

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
