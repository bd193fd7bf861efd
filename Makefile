# gloomesh.multicluster — developer entry points. Every target does its own set-up.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.tmp/collections
export PATH := $(BIN):$(PATH)
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: test unit integration sanity lint molecule build-check demo demo-down venv assets collection-link clean

## make test: everything CI runs (venv, control-plane binaries, unit, integration, quality gates)
test: venv assets collection-link
	$(PYTEST) tests/unit -q
	$(PYTEST) tests/harness/tests -q
	$(PYTEST) tests/integration -q
	$(MAKE) --no-print-directory lint sanity molecule build-check

## make demo: three local clusters + simulators, the install playbook, a verify report
demo: venv assets collection-link
	$(BIN)/python -m tests.harness.demo

demo-down:
	-$(BIN)/python -m tests.harness.demo --down

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

assets:
	@bash hack/build-control-plane.sh >/dev/null

collection-link:
	@mkdir -p .tmp/collections/ansible_collections/gloomesh
	@test -L .tmp/collections/ansible_collections/gloomesh/multicluster || \
	  ln -s ../../../.. .tmp/collections/ansible_collections/gloomesh/multicluster

unit: venv collection-link
	$(PYTEST) tests/unit -q

integration: venv assets collection-link
	$(PYTEST) tests/harness/tests -q
	$(PYTEST) tests/integration -q

lint: venv collection-link
	bash hack/lint.sh

sanity: venv
	bash hack/sanity.sh

molecule: venv assets collection-link
	bash hack/molecule.sh

build-check: venv
	bash hack/build-check.sh

clean:
	rm -rf .tmp gloomesh-multicluster-*.tar.gz
