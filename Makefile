# gloomesh.multicluster — developer entry points. Every target does its own set-up.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.tmp/collections
export PATH := $(BIN):$(PATH):/usr/local/go/bin
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: test unit integration sanity lint molecule build-check version-matrix demo demo-down venv assets istiod collection-link clean

## make test: everything CI runs (venv, control-plane binaries, unit, integration, quality gates),
## in two lanes at once (hack/test.sh)
test: venv assets istiod collection-link
	PYTEST="$(PYTEST)" MATRIX_CELLS="$(MATRIX_CI_CELLS)" bash hack/test.sh

## make demo: three local clusters + simulators, the install playbook, a verify report
demo: venv assets istiod collection-link
	$(BIN)/python -m tests.harness.demo

demo-down:
	-$(BIN)/python -m tests.harness.demo --down

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

## make assets: kube-apiserver, etcd and helm built once from the Go modules pinned in hack/assets
assets:
	@bash hack/build-control-plane.sh >/dev/null

## make istiod: upstream istiod (pilot-discovery) built once from the istio.io/istio module pinned in hack/assets (after make assets, it compiles only Istio's own packages)
istiod:
	@bash hack/build-istiod.sh >/dev/null

collection-link:
	@mkdir -p .tmp/collections/ansible_collections/gloomesh
	@test -L .tmp/collections/ansible_collections/gloomesh/multicluster || \
	  ln -s ../../../.. .tmp/collections/ansible_collections/gloomesh/multicluster

unit: venv collection-link
	$(PYTEST) tests/unit -q

integration: venv assets istiod collection-link
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

## make version-matrix: oldest/newest claimed ansible-core x kubernetes.core, each cell in its own venv.
## make test runs the two cells that pair the oldest and the newest of both (the main venv is a third).
MATRIX_CI_CELLS := core2.16-kc5.0.0 core2.19-kc6.6.0
export MATRIX_PLAYBOOK ?= tests/integration/test_playbooks.py tests/integration/test_inline_kubeconfig.py -k (test_install_rerun_verify)or(test_inline_kubeconfig_secrets_hidden)
version-matrix: venv assets collection-link
	bash hack/version-matrix.sh

clean:
	rm -rf .tmp gloomesh-multicluster-*.tar.gz
