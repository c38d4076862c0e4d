# Every target installs what it needs first; nothing is assumed installed by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# jsii runs on the Node.js installed locally from npm (22), not the machine's.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export PYTHONDONTWRITEBYTECODE := 1
# MkDocs and Material print an end-of-life banner on every build; the site builds in strict mode all the same.
export NO_MKDOCS_2_WARNING := 1

.PHONY: install lint test unit integration infra synth nag-check cfn-lint demo bench clean docs docs-check

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy lambdas stacks mlgov bench tests app.py

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

infra: install
	$(BIN)/pytest tests/infrastructure

# The training tests (tests/training) run the real LoRA entry point on the CPU, so they need its requirements.
test: lint $(VENV)/.training-installed
	$(BIN)/pytest -n 2 --dist loadfile
	$(MAKE) --no-print-directory cfn-lint
	$(MAKE) --no-print-directory docs-check

# The documentation site: generated reference pages (settings, CLI) from the code, then MkDocs in strict mode.
docs: install
	$(BIN)/python docs/gen.py
	$(BIN)/mkdocs build --strict --quiet

# What make test checks: no generated page is stale, and the site builds with no warning.
docs-check: install
	$(BIN)/python docs/gen.py --check
	$(BIN)/mkdocs build --strict --quiet --site-dir $$(mktemp -d)

synth: install
	npx cdk synth --quiet

# `cdk synth` fails on cdk-nag errors (error annotations); cfn-lint then checks every template.
cfn-lint: synth
	$(BIN)/cfn-lint cdk.out/*.template.json

demo: install
	$(BIN)/python -m mlgov.sandbox

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf cdk.out site .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The LoRA training entry point (training/) installs its own pinned requirements into the same venv.
$(VENV)/.training-installed: training/requirements.txt $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -r training/requirements.txt
	@touch $@

# Runs the real entry point on the CPU with a tiny model, then the offline gate on its evaluation.json.
.PHONY: train-smoke
train-smoke: $(VENV)/.training-installed
	PYTHONPATH=training $(BIN)/python -m mlgov_training.smoke
