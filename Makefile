# loadbay: every install step lives here. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
HOST ?= 127.0.0.1
PORT ?= 8000
# Test workers: pytest-xdist processes (the machines have two cores).
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help

.PHONY: help install install-dev build-web chromium run test lint format bench lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv comes from its own hash-pinned lock, installed with the venv's pip, so a machine
# that has only Python, pip and make can build everything else.
$(UV): $(BIN)/python requirements-uv.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-uv.lock
	@touch $@

$(VENV)/.installed: $(UV) requirements.lock pyproject.toml
	$(UV) pip install --quiet --python $(BIN)/python --require-hashes -r requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(UV) pip install --quiet --python $(BIN)/python --require-hashes -r requirements-dev.lock
	@touch $@

install: $(VENV)/.installed ## build .venv from requirements.lock and install loadbay into it

install-dev: $(VENV)/.installed-dev ## install, plus the test and lint tools (requirements-dev.lock)

# tus-js-client for the end-to-end upload tests (test-only). Its lock names no hosts: .npmrc sets
# omit-lockfile-registry-resolved, and the packages' "funding" URLs are stripped from it.
TUS_JS := tests/e2e/tus_js
$(TUS_JS)/node_modules/.package-lock.json: $(TUS_JS)/package-lock.json
	cd $(TUS_JS) && npm ci --no-audit --no-fund --loglevel=error

# The page (src/loadbay/web): npm ci from its lock (no hosts in it, as above), then tsc + vite
# build into dist/ (generated, gitignored, packaged into the wheel). Rebuilt only when a source,
# the lock or the build configuration changes.
WEB := src/loadbay/web
WEB_SOURCES := $(shell find $(WEB)/src -type f 2>/dev/null) $(WEB)/index.html \
	$(WEB)/vite.config.ts $(WEB)/tsconfig.json
$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json $(WEB)/package.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
$(WEB)/dist/index.html: $(WEB)/node_modules/.package-lock.json $(WEB_SOURCES)
	cd $(WEB) && npm run --silent build

build-web: $(WEB)/dist/index.html ## install the page's npm packages and build it into src/loadbay/web/dist

# Debian's Chromium for the browser tests (Playwright drives it by its path; no browser download).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }

chromium: $(CHROMIUM) ## install Debian's Chromium for the browser tests (as root) when missing

run: install build-web ## start the server on http://$(HOST):$(PORT) (SQLite, local files, in-process jobs)
	$(BIN)/loadbay serve --host $(HOST) --port $(PORT)

test: install-dev $(TUS_JS)/node_modules/.package-lock.json build-web $(CHROMIUM) ## run the whole test suite
	cd $(WEB) && npm test --silent
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install-dev ## ruff check, ruff format --check, mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install-dev ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: install-dev ## run the benchmarks in bench/ (each prints ratios against same-run anchors)
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/upload.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/import_file.py

lock: $(UV) ## regenerate the hash-pinned lock files from pyproject.toml (needs network)
	$(UV) pip compile pyproject.toml requirements-build.in --universal --generate-hashes --python-version 3.11 -o requirements.lock -q
	$(UV) pip compile pyproject.toml requirements-build.in --extra dev --universal --generate-hashes --python-version 3.11 -o requirements-dev.lock -q
	$(UV) pip compile requirements-uv.in --universal --generate-hashes --python-version 3.11 -o requirements-uv.lock -q

clean: ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
