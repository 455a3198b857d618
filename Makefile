# Customersonly: every entry point installs what it needs first.
#   make run     the whole platform locally (API, local AWS, event pump), see README
#   make test    the whole test suite (ruff, mypy, unit, integration, functional, the demo, then infra-check), offline
#   make demo    the whole flow through the public HTTP API, on a local stack of its own
#   make test-contract     the search engines' shared contract (OpenSearch too when OPENSEARCH_URL is set)
#   make bench-coldstart   import cost of the Lambda entry point against its floor
#   make bench-matching    matching quality and speed on a synthetic O*NET benchmark (../shared/data/onet)
#   make bench-api         warm API latency (p50/p95) of six operations in process against moto, next to a bare GetItem
#   make bench             all three

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Where `make run` keeps its state and writes app.env (the same variable chalicelib/local/stack.py reads).
LOCAL_STATE_DIR ?= .local

.DEFAULT_GOAL := help

.PHONY: help
help:
	@echo "make run | test | demo [DEMO_ARGS='--api URL'] | test-contract | lint | format | bench | bench-coldstart | bench-matching | bench-api | create-staff EMAIL=... NAME=... | privacy-jobs | proposal-jobs | pay-invoice ID=... | activate-payouts AGENCY=... | outbox [TO=...] | infra-check | clean"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalls whenever a requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

.PHONY: install
install: $(VENV)/.installed

.PHONY: lint
lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

.PHONY: format
format: $(VENV)/.installed
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# infra-check (offline cdk synth, cfn-lint, CDK assertions) installs its own venv and CLI on first use.
.PHONY: test
test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest
	$(PY) -m demo
	$(MAKE) --no-print-directory infra-check

# The whole flow through the public HTTP API, as its users play it, on its own local stack (free ports, a temporary
# directory, stopped afterwards); DEMO_ARGS='--api URL [--env-file FILE]' plays against a running API instead.
.PHONY: demo
demo: $(VENV)/.installed
	$(PY) -m demo $(DEMO_ARGS)

# The MatchIndex contract suite alone; against a real cluster too when OPENSEARCH_URL is set (see README).
.PHONY: test-contract
test-contract: $(VENV)/.installed
	$(PY) -m pytest -rs tests/contract

.PHONY: bench-coldstart
bench-coldstart: $(VENV)/.installed
	$(PY) -m bench.coldstart

.PHONY: bench-matching
bench-matching: $(VENV)/.installed
	$(PY) -m bench.matching

.PHONY: bench-api
bench-api: $(VENV)/.installed
	$(PY) -m bench.api

.PHONY: bench
bench: bench-coldstart bench-matching bench-api

# A staff user on the local stack started by `make run` (asks for the password unless PASSWORD=... is given).
.PHONY: create-staff
create-staff: $(VENV)/.installed
	@test -n "$(EMAIL)" -a -n "$(NAME)" || (echo "usage: make create-staff EMAIL=you@example.com NAME='Your Name'" && exit 2)
	$(PY) -m chalicelib.cli --env-file $(LOCAL_STATE_DIR)/app.env create-staff --email "$(EMAIL)" --name "$(NAME)" $(if $(PASSWORD),--password "$(PASSWORD)")

# The daily scheduled jobs (pending erasures, retention) against the local stack, now.
.PHONY: privacy-jobs
privacy-jobs: $(VENV)/.installed
	$(PY) -m chalicelib.cli --env-file $(LOCAL_STATE_DIR)/app.env privacy-jobs

.PHONY: proposal-jobs
proposal-jobs: $(VENV)/.installed
	$(PY) -m chalicelib.cli --env-file $(LOCAL_STATE_DIR)/app.env proposal-jobs

# Offline payments on `make run`'s stack: the client pays an issued invoice; an agency finishes its payout onboarding.
.PHONY: pay-invoice
pay-invoice: $(VENV)/.installed
	@test -n "$(ID)" || (echo "usage: make pay-invoice ID=<invoice_id>" && exit 2)
	$(PY) -m chalicelib.cli --env-file $(LOCAL_STATE_DIR)/app.env pay-invoice --invoice-id "$(ID)"

.PHONY: activate-payouts
activate-payouts: $(VENV)/.installed
	@test -n "$(AGENCY)" || (echo "usage: make activate-payouts AGENCY=<agency_id>" && exit 2)
	$(PY) -m chalicelib.cli --env-file $(LOCAL_STATE_DIR)/app.env activate-payouts --agency-id "$(AGENCY)"

# The mail the local stack sent (make run sends none out), attachments named: make outbox [TO=address]
.PHONY: outbox
outbox: $(VENV)/.installed
	$(PY) -m chalicelib.cli --env-file $(LOCAL_STATE_DIR)/app.env outbox $(if $(TO),--to "$(TO)")

.PHONY: clean
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

include chalicelib/local/Makefile.run.mk
include infra/Makefile.infra.mk
