# Protokol: `make run` serves the demo, `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_ENV := PROTOKOL_DEMO=1
# Debian packages: fast font subsetting for PDFs and fonts for the scripts
# and emoji that the bundled PT fonts lack (CJK, Symbola, GNU FreeFont),
# pg_dump and pg_restore for backups of PostgreSQL; PDF tools, Chromium,
# openssl and SoftHSM2 (the PKCS#11 signing backend) for tests.
RUN_PACKAGES := libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0 fonts-paratype \
	postgresql-client \
	fonts-wqy-microhei fonts-dejavu-core fonts-symbola fonts-freefont-ttf
TEST_PACKAGES := $(RUN_PACKAGES) poppler-utils qpdf chromium gettext openssl softhsm2

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create .venv and install the pinned dependencies

.PHONY: system-deps
system-deps: ## Install the Debian packages the app needs (as root, when missing)
	@./scripts/ensure-packages $(RUN_PACKAGES)

.PHONY: system-deps-test
system-deps-test: ## Install the Debian packages the tests need (as root, when missing)
	@./scripts/ensure-packages $(TEST_PACKAGES)

.PHONY: setup
setup: venv system-deps ## Migrate the database and load demo accounts and real appeals
	$(DEMO_ENV) $(BIN)/protokol migrate --no-input -v 0
	$(DEMO_ENV) $(BIN)/protokol seed-demo
	$(DEMO_ENV) $(BIN)/protokol pki init
	$(DEMO_ENV) $(BIN)/protokol pki issue reviewer
	$(DEMO_ENV) $(BIN)/protokol import-appeals

# Copies' QR codes and e-mails link to PROTOKOL_PUBLIC_URL, which follows
# HOST and PORT unless it is set.
RUN_ENV = $(DEMO_ENV) PROTOKOL_PUBLIC_URL=$(or $(PROTOKOL_PUBLIC_URL),http://$(HOST):$(PORT))
# The task worker sends notifications and renders large copies; it runs in
# the background of the recipe line that follows and stops with uvicorn.
START_WORKER = $(RUN_ENV) $(BIN)/protokol worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT;

.PHONY: run
run: setup ## Serve the demo on http://127.0.0.1:8000 with the notification worker (demo password: demo)
	@echo "Protokol on http://$(HOST):$(PORT)/ (accounts: citizen, operator, reviewer, ...; password: demo)"
	@# No proxy stands in front, so uvicorn ignores X-Forwarded-* headers: by
	@# default it would take a local client's header as its address.
	$(START_WORKER) \
	$(RUN_ENV) $(BIN)/uvicorn protokol.asgi:application --host $(HOST) --port $(PORT) --lifespan off \
		--no-proxy-headers

# `make run-tls PORT=9443` overrides the port, as for `make run`.
run-tls: PORT := 8443
run-tls: RUN_ENV = $(DEMO_ENV) PROTOKOL_PUBLIC_URL=$(or $(PROTOKOL_PUBLIC_URL),https://$(HOST):$(PORT))
TLS_DIR = $(or $(PROTOKOL_DATA_DIR),var)/tls

.PHONY: run-tls
run-tls: setup ## Serve the demo on https://127.0.0.1:8443 with a local CA's certificate and the worker
	$(DEMO_ENV) $(BIN)/protokol tls-cert
	@echo "Protokol on https://$(HOST):$(PORT)/ (trust $(TLS_DIR)/ca.pem, e.g. curl --cacert)"
	$(START_WORKER) \
	$(RUN_ENV) PROTOKOL_TLS=1 $(BIN)/uvicorn protokol.asgi:application --host $(HOST) --port $(PORT) --lifespan off \
		--no-proxy-headers --ssl-certfile $(TLS_DIR)/server.pem --ssl-keyfile $(TLS_DIR)/server.key.pem

# The sign-in tests run the npm package oidc-provider from this directory.
PROVIDER_DIR := tests/identity/provider

.PHONY: test-node-deps
test-node-deps: ## Install the test OpenID provider's npm packages (needs node and npm)
	@if command -v npm >/dev/null; then cd $(PROVIDER_DIR) && npm ci --no-audit --no-fund; \
	else echo "npm not found: the OpenID Connect tests will be skipped"; fi

.PHONY: test
test: venv system-deps-test test-node-deps ## Run the test suite (PROTOKOL_DATABASE_URL selects the database)
	$(BIN)/pytest

.PHONY: lint
lint: venv ## Check formatting, lint rules and missing migrations
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(DEMO_ENV) PROTOKOL_DATA_DIR=var/lint $(BIN)/protokol makemigrations --check --dry-run -v 0

.PHONY: bench
bench: venv system-deps ## Run the benchmarks and print a table for docs/benchmarks.md
	$(BIN)/python bench/run.py

.PHONY: bench-peers
bench-peers: venv ## Compare API writes with django-helpdesk and raw INSERTs (PostgreSQL)
	$(BIN)/python bench/peer_bench.py

.PHONY: bench-load
bench-load: venv ## Open-loop load test of the API on PostgreSQL (RATE sessions/s)
	$(BIN)/python bench/load_bench.py --rate $(or $(RATE),2) --seconds $(or $(SECONDS),60)

.PHONY: messages
messages: venv ## Compile the Russian and English translation catalogs
	cd src/protokol && ../../$(BIN)/django-admin compilemessages -l ru -l en

.PHONY: clean
clean: ## Remove the virtualenv and local data (var/)
	rm -rf $(VENV) var
