# vpclocal: `make up` runs the server, `make test` runs the tests. Both install what is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# aws-sam-cli pins its own boto3/botocore: a venv of its own, which the tests run `sam` from
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed

.PHONY: setup up test test-ci bench lint reset clean

setup: $(STAMP) $(SAM_STAMP)
	@scripts/install-debs.sh

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

$(SAM_STAMP): requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-sam.txt
	@touch $@

up: setup
	$(BIN)/vpclocal up $(ARGS)

# --dist loadfile: a test file's tests run in order on one worker (several share a module's
# server and build on each other's state: restart, delete)
# (-rfEsx: a summary of what failed, skipped or xfailed)
# --basetemp: a directory of this run's own, not under /tmp/pytest-of-$USER, whose mode any
# other pytest run on the machine resets to 0700 (databases run as their own users must pass)
test: setup
	@base=$$(mktemp -d /tmp/vpclocal-tests-XXXXXX) && \
	$(BIN)/pytest -n 2 --dist loadfile -rfEsx --basetemp=$$base/run $(ARGS); \
	status=$$?; rm -rf $$base; exit $$status

# CI: the same run, where a skip of anything core fails (VPCLOCAL_STRICT, tests/conftest.py)
test-ci:
	VPCLOCAL_STRICT=1 $(MAKE) test

lint: setup
	$(BIN)/ruff check src tests bench

bench: setup
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-bench.txt
	$(BIN)/python bench/control_plane.py

# forget every resource (the server's state in .vpclocal), keep the venv; stop the server first
reset:
	rm -rf .vpclocal

clean:
	rm -rf $(VENV) $(SAM_VENV) .vpclocal
