# podcast-host — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## Install the app and its Python dependencies into .venv (and ffmpeg when missing)
	@scripts/install-system-deps.sh run

run: install ## Load the sample show from episodes/ and serve on http://$(HOST):$(PORT)
	$(BIN)/podcast-host sync episodes/
	@echo "podcast-host is serving on http://$(HOST):$(PORT) (Ctrl-C stops it)"
	@echo "Dashboard: make a producer with  $(BIN)/podcast-host user add you@example.com --admin --password-stdin"
	@echo "           then sign in at http://$(HOST):$(PORT)/login"
	$(BIN)/podcast-host serve --host $(HOST) --port $(PORT)

test-deps: install
	@scripts/install-system-deps.sh test
	@if [ ! -d tests/js/node_modules ]; then npm ci --prefix tests/js --no-audit --no-fund --silent; fi
	@scripts/start-services.sh

# Three workers on a 2-core machine: many tests wait on ffmpeg, servers or a browser, and a third worker uses
# that time (measured: 233 s, against 248 s with two and 236 s with four). pytest's closing line gives the
# suite's wall time, after the 15 slowest tests. Every test runs; PYTEST_ARGS='-m "not slow"' leaves out the
# long ones while working on something else.
PYTEST_WORKERS ?= 3

# Compiled modules are cached (even where the environment says PYTHONDONTWRITEBYTECODE): pytest's rewritten
# test modules alone take each worker about 5 s to build, which a second run then skips.
test: test-deps ## Run the whole test suite (starts PostgreSQL and Redis when they are down)
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(PYTEST_WORKERS) --durations=15 $(PYTEST_ARGS)

bench: test-deps ## Benchmarks (audio, feed, upload, server memory, analytics), printed as tables
	$(BIN)/python scripts/bench_audio.py
	$(BIN)/python scripts/bench_feed.py
	$(BIN)/python scripts/bench_media.py
	$(BIN)/python scripts/bench_upload.py
	$(BIN)/python scripts/bench_serve_memory.py
	$(BIN)/python scripts/bench_analytics.py
	$(BIN)/python scripts/bench_import.py

catalogs: install ## Extract the interface's strings, update the catalogs (en, ar, fr) and compile them
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k refusal --no-location --sort-output \
		-o podcast_host/translations/messages.pot .
	$(BIN)/pybabel -q update -i podcast_host/translations/messages.pot -d podcast_host/translations \
		--no-fuzzy-matching
	$(BIN)/python scripts/fill_english_catalog.py
	$(BIN)/pybabel -q compile -d podcast_host/translations

lint: install ## ruff lint and format check, mypy type check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean: ## Remove the virtualenv and caches (keeps instance/ data)
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache tests/js/node_modules

.PHONY: help install run test test-deps bench catalogs lint clean
