# Everything a fresh machine needs is installed by these targets (Python venv, npm packages).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_VENV := $(VENV)/.installed
STAMP_NPM := node_modules/.installed
STAMP_SOL := contracts/build/.compiled
PORT ?= 5000
NODE_PORT ?= 6751
ANVIL_PORT ?= 8545

.PHONY: all setup test test-unit test-e2e run abi bench reliability riscv-check chromium clean

all: setup

setup: $(STAMP_VENV) $(STAMP_NPM) $(STAMP_SOL)

$(STAMP_VENV): requirements/dapp.txt requirements/host.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/host.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(STAMP_NPM): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error  # @cartesi/rollups 2.0.0-rc.14 has a preinstall "npx only-allow pnpm"
	touch $@

$(STAMP_SOL): $(STAMP_NPM) $(wildcard contracts/src/*.sol) scripts/compile-contracts.js
	node scripts/compile-contracts.js --check
	node scripts/compile-contracts.js
	touch $@

## Regenerate contracts/abi after changing contracts/src (commit the result).
abi: $(STAMP_NPM)
	node scripts/compile-contracts.js

## Debian's Chromium for the console's browser tests (Playwright's own browser download does not work here).
chromium:
	@test -x /usr/bin/chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

## The whole test suite (unit, integration, end-to-end on a local anvil, browser tests).
test: setup chromium
	$(PY) -m pytest -q

test-unit: setup
	$(PY) -m pytest -q tests/unit

test-e2e: setup chromium
	$(PY) -m pytest -q tests/e2e

## Local node + backend + web console, with a demo job; prints the console's URL (Ctrl-C stops).
## Ports: make run PORT=5000 NODE_PORT=6751 ANVIL_PORT=8545 (console, node reader/inspect, anvil; 0: any free).
run: setup
	$(PY) scripts/demo.py --port $(PORT) --node-port $(NODE_PORT) --anvil-port $(ANVIL_PORT)

## Benchmarks: print their figures.
bench: setup
	$(PY) -m bench

## The long reliability tests: a 2,000-input burst through the local node, a long kill -9 series.
reliability: setup
	$(PY) -m pytest -q -m reliability tests/reliability

## riscv64 proof without Docker: the image's userland built with debootstrap + qemu-user (cached in
## .cache/riscv64-rootfs), unit tests under emulation, a scripted session compared byte for byte
## with x86-64. Needs root. Not part of `make test`.
riscv-check: $(STAMP_VENV)
	bash docker/riscv-check.sh

## The backend's Cartesi machine without Docker: root file system from the riscv-check root, ext2 image,
## booted in ../shared/cartesi-machine and stored at its first yield (.cache/machine/snapshot). Needs root.
.PHONY: machine-image machine-check
machine-image: $(STAMP_VENV)
	bash docker/machine-image.sh

## The scripted session in the real machine, compared per input with x86-64 and qemu-user, with the
## cycles and time per input kind. Needs root and ../shared/cartesi-machine. Not part of `make test`.
machine-check: $(STAMP_VENV)
	bash docker/machine-check.sh

.PHONY: machine-limits-check
machine-limits-check:  # the real Cartesi machine: RLIMIT_CPU / RLIMIT_AS end at the same point every run
	bash docker/machine-limits-check.sh

clean:
	rm -rf $(VENV) node_modules contracts/build .state
