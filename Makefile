# tagstream: the targets below are a contract other tools use (run, test, up, down, clean).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KAFKA_PORT ?= 9092
REDIS_PORT ?= 6379
export KAFKA_PORT REDIS_PORT
export TAGSTREAM_KAFKA_BROKER ?= 127.0.0.1:$(KAFKA_PORT)
export TAGSTREAM_REDIS_URL ?= redis://127.0.0.1:$(REDIS_PORT)/0
PYTEST_ARGS ?=
CARGO ?= $(shell command -v cargo || echo $(HOME)/.cargo/bin/cargo)
# rustup installs into ~/.cargo/bin, which a non-login shell (CI) may not have on its PATH.
export PATH := $(dir $(CARGO)):$(PATH)
# The Rust crate behind stream._native: any change to it must rebuild the installed extension.
NATIVE_SOURCES := native/Cargo.toml $(wildcard native/Cargo.lock) $(shell find native/src -name '*.rs' 2>/dev/null)

.PHONY: help run test up down clean venv status lint

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 10

run: up  ## the main job: local broker + Redis, worker, demo feed, tag changes on screen (Ctrl-C stops)
	$(BIN)/tagstream demo

test: up native-check lint  ## install and run the whole suite (Rust tests and lints, Python lint and types, unit + integration against the real broker and Redis)
	scripts/ensure-chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv  ## ruff and mypy on stream/, agents/, schemas/, config/ (part of `make test`; settings in pyproject.toml)
	$(BIN)/ruff check stream agents schemas config
	$(BIN)/mypy

.PHONY: native-check
native-check:  ## the Rust crate's own tests and `clippy -D warnings` (part of `make test`)
	cargo test --quiet --manifest-path native/Cargo.toml
	cargo clippy --quiet --manifest-path native/Cargo.toml --all-targets -- -D warnings

up: venv  ## install what is missing, start Kafka (KRaft) and Redis on loopback, create the topics
	scripts/services.sh up
	$(BIN)/tagstream topics

down:  ## stop Kafka and Redis
	scripts/services.sh down

clean: down  ## stop everything and delete all broker, Redis and worker data
	scripts/services.sh clean

status:  ## say whether Kafka and Redis answer
	scripts/services.sh status

venv: $(VENV)/.installed  ## create .venv with the project and its test tools

# pip builds the Rust extension (maturin, release profile) as part of the install, so the stamp also
# depends on the crate: `make up`/`make test` rebuild it after a Rust edit.
$(VENV)/.installed: pyproject.toml requirements-test.lock $(NATIVE_SOURCES)
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (3.11+)"; exit 1; }
	@command -v $(CARGO) >/dev/null || { echo "need cargo (Rust) to build stream._native: https://rustup.rs"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-test.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

.PHONY: faults
faults: up  ## only the fault-injection cases (also part of `make test`), with their result lines
	$(BIN)/python -m pytest tests/faults -s -rxXf -m faults

.PHONY: bench
bench: venv  ## run the benchmarks on a broker and Redis of their own (prints a table and one JSON line)
	$(BIN)/python -m bench
