# ClassTop Fleet — developer and CI entry points.
#
# Works on a fresh Debian 12 machine as root with only python3 and network access to PyPI and Debian:
#   make test    system packages + venv + ruff + vulture + mypy + pytest   (what .ci/run runs)
#   make demo    the local twin (python -m infra.local)
#   make bench   every bench/*.py with the venv's python, ending with one table of every figure
#   make bench-report   docs/benchmarks.md (table and plots) from the last bench results
#   make fuzz    the fuzz tests (tests/fuzz) with many more generated cases than make test runs
#   make chaos   the fault-injection run on the local twin (CHAOS_FAULTS faults, seeded by CHAOS_SEED)
#
# Everything Python lives in .venv; system packages (Mosquitto, later Chromium) come from apt.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp

# Debian packages the tests need (curl: the demo test runs the curl the demo prints; chromium and
# chromium-driver: the browser tests drive the LMS console and the dashboard; fonts-wqy-microhei: a Chinese font,
# so the zh-CN screenshots show characters).
SYSTEM_PKGS ?= mosquitto mosquitto-clients curl chromium chromium-driver fonts-wqy-microhei
# Debian's own python3 needs python3-venv for `python3 -m venv` (ensurepip); add it only when missing.
ifneq ($(shell $(PYTHON) -c 'import ensurepip' >/dev/null 2>&1 || echo missing),)
SYSTEM_PKGS += python3-venv
endif

# Directories type-checked by `make typecheck` (only those that hold .py files are passed to mypy) and searched for
# dead code by `make lint` (vulture: what it is at least 80 % sure nothing uses).
TYPECHECK_DIRS ?= shared cloud edge infra bench tests
DEADCODE_DIRS ?= shared cloud edge infra
TESTS ?= tests
PYTEST_ARGS ?=

# The editable install maps the top-level packages that exist when it runs: reinstall when one appears.
PKG_INITS := $(wildcard shared/__init__.py edge/__init__.py infra/__init__.py)

.PHONY: all deps-system venv lint typecheck pytest test fuzz demo bench bench-report chaos lms-lock clean distclean

all: test

## deps-system: install missing Debian packages (as root); fail with a clear message otherwise.
deps-system:
	@missing=""; \
	for p in $(SYSTEM_PKGS); do \
	  if ! dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed'; then \
	    missing="$$missing $$p"; \
	  fi; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "error: missing Debian packages:$$missing" >&2; \
	  echo "       install them as root:  apt-get update && apt-get install -y$$missing" >&2; \
	  exit 1; \
	fi; \
	echo "deps-system: installing$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq; \
	apt-get install -y -qq --no-install-recommends $$missing

## venv: .venv with the project installed editable with the dev extra (re-run only when pyproject changes).
venv: $(STAMP)

$(STAMP): pyproject.toml $(PKG_INITS)
	@if ! $(PYTHON) -c 'import ensurepip' >/dev/null 2>&1; then \
	  echo "error: '$(PYTHON) -m venv' needs ensurepip: run 'make deps-system' as root (installs python3-venv)" >&2; \
	  exit 1; \
	fi
	@if [ ! -x $(VPY) ]; then \
	  echo "venv: creating $(VENV)"; \
	  rm -rf $(VENV); \
	  $(PYTHON) -m venv $(VENV); \
	fi
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[dev]'
	@touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/vulture --min-confidence 80 $(DEADCODE_DIRS)

typecheck: venv
	@dirs=""; \
	for d in $(TYPECHECK_DIRS); do \
	  if [ -n "$$(find $$d -name '*.py' -not -path '*/vendor/*' -print -quit 2>/dev/null)" ]; then \
	    dirs="$$dirs $$d"; \
	  fi; \
	done; \
	if [ -z "$$dirs" ]; then echo "typecheck: no Python files in $(TYPECHECK_DIRS) yet"; exit 0; fi; \
	echo "$(VENV)/bin/mypy$$dirs"; \
	$(VENV)/bin/mypy $$dirs

pytest: venv
	$(VPY) -m pytest -q $(PYTEST_ARGS) $(TESTS)

# Order matters (and .ci/run may be run with -j): system packages, venv, lint, types, then the tests.
test: deps-system
	$(MAKE) --no-print-directory venv
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory typecheck
	$(MAKE) --no-print-directory pytest

## fuzz: every MQTT consumer, shadow document, configuration file and ClassTop WebSocket frame fed generated hostile
## input (hypothesis profile "fuzz"; make test runs the same tests with a few cases each). FUZZ_EXAMPLES overrides
## the cases per test.
FUZZ_EXAMPLES ?=
fuzz: venv
	HYPOTHESIS_PROFILE=fuzz $(if $(FUZZ_EXAMPLES),FUZZ_EXAMPLES=$(FUZZ_EXAMPLES)) $(VPY) -m pytest -q \
	  $(PYTEST_ARGS) tests/fuzz

demo: deps-system
	$(MAKE) --no-print-directory venv
	$(VPY) -m infra.local

## bench: every bench/*.py with the venv's python at its default (full) size, each writing its figures into
## $(BENCH_RESULTS) (bench/_results.py); ends with one table of every figure, its baseline, the ratio and the goal
## (a bench that fails does not stop the others; make bench then fails, after the table).
## bench-report: that table again, and docs/benchmarks.md with its plots, from the results there (no bench is run).
BENCH_RESULTS ?= $(CURDIR)/var/bench
bench: venv
	@shopt -s nullglob; \
	scripts=(bench/*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "bench: no bench/*.py yet"; exit 0; fi; \
	failed=""; \
	for f in "$${scripts[@]}"; do \
	  case "$$(basename "$$f")" in _*|report.py) continue;; esac; \
	  echo "== $$f"; \
	  BENCH_RESULTS_DIR="$(BENCH_RESULTS)" PYTHONPATH="$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}" $(VPY) "$$f" \
	    || failed="$$failed $$f"; \
	done; \
	BENCH_RESULTS_DIR="$(BENCH_RESULTS)" $(VPY) bench/report.py; \
	if [ -n "$$failed" ]; then echo "bench: failed:$$failed" >&2; exit 1; fi

BENCH_NOTE ?=
bench-report: venv
	BENCH_RESULTS_DIR="$(BENCH_RESULTS)" $(VPY) bench/report.py --page docs/benchmarks.md \
	  $(if $(BENCH_NOTE),--note "$(BENCH_NOTE)")

## chaos: kill -9 of the LMS, an agent mid-exec, the site broker, the IoT Core stand-in, cloud link cuts, the LMS's disk
## full (a tmpfs of its own: root), clock jumps and a slow link, at random (seeded) points while commands and settings
## flow through the local twin; prints the ledger per fault kind and fails on any command lost, run twice or left
## without a terminal state, or a damaged LMS database (tests/chaos/; a short run, each kind once, is in `make test`).
CHAOS_FAULTS ?= 100
CHAOS_SEED ?= 17
chaos: deps-system
	$(MAKE) --no-print-directory venv
	$(VPY) -m tests.chaos --faults $(CHAOS_FAULTS) --seed $(CHAOS_SEED)

## lms-lock: refresh infra/lms/requirements.lock, the LMS image's pins with hashes: the `lms` extra resolved for
## the image's CPython 3.11 on Linux (every file of each pinned release is hashed, so amd64 and arm64 both
## verify), from what PyPI held at LMS_LOCK_DATE (bump it to take newer releases; same date, same lock).
LMS_LOCK_DATE ?= 2026-12-06T00:00:00Z
lms-lock: venv
	$(VENV)/bin/uv pip compile pyproject.toml --extra lms --generate-hashes --no-config \
	  --python-version 3.11 --python-platform linux --exclude-newer $(LMS_LOCK_DATE) \
	  --custom-compile-command "make lms-lock" --output-file infra/lms/requirements.lock

## clean: caches and build output (keeps .venv; `make distclean` removes it too).
clean:
	find . -path ./$(VENV) -prune -o -type d \
	  \( -name __pycache__ -o -name .pytest_cache -o -name .mypy_cache -o -name .ruff_cache \) \
	  -print0 | xargs -0 rm -rf
	rm -rf build dist var cloud/vendor *.egg-info

distclean: clean
	rm -rf $(VENV)
