# The two commands of a fresh machine:  make demo   and   make test
# Everything installs into .venv from PyPI; nothing else is downloaded.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(STAMP): layers/earchive/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e "layers/earchive[dev]"
	touch $(STAMP)

install: $(STAMP)

## the main job on the local default (offline: generate cases, pack, seal, check)
demo: $(STAMP)
	$(BIN)/earchive demo --out out/demo

## every test, with the linter first
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

## speed and memory figures (not part of the tests): make bench ARGS="--large-mb 2048"
bench: $(STAMP)
	$(BIN)/python bench/bench_pack_verify.py $(ARGS)

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
