# Everything a fresh machine needs: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test test-process lint-diagrams chromium clean bench bench-detail

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: $(STAMP) node_modules/.installed

# Debian's chromium, driven by Playwright in the browser tests (Playwright's own browser download cannot be used here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

run: install
	$(BIN)/incidents init
	$(BIN)/incidents seed-demo
	$(BIN)/incidents serve --host 127.0.0.1 --port 8000

lint-diagrams: install
	npx --no bpmnlint bpmn/*.bpmn
	$(BIN)/incidents validate bpmn

# Policy staff's process tests (bpmn/tests/*.yaml) on the diagrams, without a database; pytest runs them too.
test-process: $(STAMP)
	$(BIN)/incidents test-process

test: install chromium lint-diagrams test-process
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) node_modules instance test-artifacts

# The one table of figures the targets are read from (a few minutes); bench-detail adds the in-process
# breakdown and replay with `verify --all` over 10,000 cases (about 40 minutes).
bench: install
	$(BIN)/python bench/served.py

bench-detail: install
	$(BIN)/python bench/complete_task.py
	$(BIN)/python bench/replay.py
