# AWS CDK app in infra/: its own venv (infra/.venv) and CLI (infra/node_modules), apart from the app's.
# Included from the top-level Makefile; also usable alone: `make -f infra/Makefile.infra.mk infra-check`.
#
#   make infra-venv     create infra/.venv (pip) and infra/node_modules (npm ci); re-runs when pins change
#   make infra-synth    offline `cdk synth` of INFRA_STAGE (default dev) into infra/cdk.out
#   make infra-lint     cfn-lint on the synthesized templates
#   make infra-test     CDK assertion tests (infra/tests)
#   make infra-check    all three: synth, lint, test
#   make infra-diff / infra-deploy   need AWS credentials; pass prod settings with INFRA_CONTEXT='-c key=value ...'
#   make infra-clean    remove infra/.venv, infra/node_modules and build output

# Resolved when this file is read, so every path below works whatever the caller's directory.
INFRA_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
INFRA_VENV := $(INFRA_DIR)/.venv
INFRA_PY := $(INFRA_VENV)/bin/python
INFRA_CDK := $(INFRA_DIR)/node_modules/.bin/cdk
# chalice sets the Lambda runtime from the Python that packages the app: keep it the app's 3.11.
INFRA_PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
INFRA_STAGE ?= dev
INFRA_CONTEXT ?=
# What infra-diff / infra-deploy act on: every stack, or e.g. INFRA_STACKS=customersonly-prod-data alone
# (adding main-table indexes to a deployed table, one per deployment: infra/README.md).
INFRA_STACKS ?= --all

# Node 20 works but is past jsii's support window (it prints a banner on every call); no telemetry,
# no notices fetch and no instance-metadata probing, so synth is quiet and needs no network.
INFRA_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true AWS_EC2_METADATA_DISABLED=true

$(INFRA_PY):
	$(INFRA_PYTHON) -m venv $(INFRA_VENV)

# infra/requirements.txt includes the app's requirements.txt (chalice imports app.py while packaging).
$(INFRA_VENV)/.installed: $(INFRA_DIR)/requirements.txt $(INFRA_DIR)/../requirements.txt | $(INFRA_PY)
	$(INFRA_PY) -m pip install --quiet --disable-pip-version-check -r $(INFRA_DIR)/requirements.txt
	touch $@

$(INFRA_DIR)/node_modules/.installed: $(INFRA_DIR)/package.json $(INFRA_DIR)/package-lock.json
	cd $(INFRA_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: infra-venv
infra-venv: $(INFRA_VENV)/.installed $(INFRA_DIR)/node_modules/.installed

.PHONY: infra-synth
infra-synth: infra-venv
	rm -rf $(INFRA_DIR)/cdk.out $(INFRA_DIR)/chalice.out
	cd $(INFRA_DIR) && $(INFRA_ENV) $(INFRA_CDK) synth --quiet --no-notices -c stage=$(INFRA_STAGE) $(INFRA_CONTEXT)
	rm -rf $(INFRA_DIR)/chalice.out

# Informational checks too: the templates are clean at that level, keep them so.
INFRA_LINT = $(INFRA_VENV)/bin/cfn-lint --include-checks I -- $(INFRA_DIR)/cdk.out/*.template.json
INFRA_TEST = cd $(INFRA_DIR)/.. && $(INFRA_ENV) $(INFRA_PY) -m pytest $(INFRA_DIR)/tests -q

.PHONY: infra-lint
infra-lint: infra-venv
	$(INFRA_LINT)

.PHONY: infra-test
infra-test: infra-venv
	$(INFRA_TEST)

.PHONY: infra-check
infra-check: infra-synth
	$(INFRA_LINT)
	$(INFRA_TEST)

.PHONY: infra-diff
infra-diff: infra-venv
	cd $(INFRA_DIR) && $(INFRA_ENV) $(INFRA_CDK) diff $(INFRA_STACKS) --no-notices -c stage=$(INFRA_STAGE) $(INFRA_CONTEXT)

.PHONY: infra-deploy
infra-deploy: infra-venv
	cd $(INFRA_DIR) && $(INFRA_ENV) $(INFRA_CDK) deploy $(INFRA_STACKS) --no-notices --require-approval broadening -c stage=$(INFRA_STAGE) $(INFRA_CONTEXT)

.PHONY: infra-clean
infra-clean:
	rm -rf $(INFRA_VENV) $(INFRA_DIR)/node_modules $(INFRA_DIR)/cdk.out $(INFRA_DIR)/chalice.out
