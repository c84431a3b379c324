# duly: `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help setup run test test-clients check validate clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) (set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv and install duly with its test tools

run: setup  ## the main job on the embedded default: replay Easter Monday 2018 into ./outbox (SQLite)
	$(BIN)/duly validate rules/
	$(BIN)/duly deploy --dry-run
	$(BIN)/duly tick --at 2018-04-02T09:00
	@echo "The messages are in ./outbox/new (a Maildir: open it with any mail client)."
	@echo "A second 'make run' sends nothing: every step is delivered once."
	@echo "To run on schedule: .venv/bin/duly serve (a local Prefect server and a worker; Ctrl-C stops)."

validate: setup  ## check every rule file
	$(BIN)/duly validate rules/

test-clients:  ## the real clients the tests check against: ical.js, libical, Chromium (idempotent)
	-bash tests/clients/install.sh
	-bash tests/browser/install.sh

test: setup test-clients  ## the whole test suite (pytest's exit 5, "no tests collected", is a failure)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

check: setup  ## lint, format and type checks (installs the dev tools)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
	$(BIN)/ruff check models flows tests bench
	$(BIN)/ruff format --check models flows tests bench
	$(BIN)/mypy models flows

clean:  ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .hypothesis
