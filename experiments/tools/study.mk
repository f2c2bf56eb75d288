# What every study Makefile shares; include it before the study's own settings:
#   include ../tools/study.mk
# Defaults a study or the command line may change: BIN (the venv's bin), SEEDS, RUNS, EXTRA (extra
# overrides for every run, e.g. EXTRA="debug=tiny trainer.max_epochs=1" for a smoke test).
# The study sets COMMON (the overrides every run shares, ending in $(EXTRA)).
SHELL := /bin/bash
ROOT := $(abspath ../..)
BIN ?= $(ROOT)/.venv/bin
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline
SEEDS ?= 1 2 3
RUNS ?= runs
EXTRA ?=

# One study run as a make target:
#   $(eval $(call STUDY_RUN,<experiment>,<cell>,<seed>,<overrides>))
# makes $(RUNS)/<experiment>/<cell>/seed<seed>/metrics.json with distill-run (the overrides, then
# $(COMMON)), then drops the checkpoints. metrics.json is written last (atomically), so an
# interrupted run is redone and a finished one is not. Overrides with commas go in a variable,
# passed unexpanded: $$(NAME).
define STUDY_RUN
$(RUNS)/$(1)/$(2)/seed$(3)/metrics.json:
	$(OFFLINE) $(BIN)/distill-run experiment=$(1) $(4) seed=$(3) \
	  hydra.run.dir=$(RUNS)/$(1)/$(2)/seed$(3) $(COMMON)
	rm -rf $(RUNS)/$(1)/$(2)/seed$(3)/checkpoints
endef

# A run whose cell is its one target language: $(eval $(call RUN_RULE,<experiment>,<lang>,<seed>)).
RUN_RULE = $(call STUDY_RUN,$(1),$(2),$(3),data.target_langs=[$(2)])

# Copy the runs finished in the study's frozen worktree into this checkout, their records made
# portable (collect_runs.py), ready to commit: make collect WORKTREE=/path/to/worktree
.PHONY: collect
collect:
	$(BIN)/python ../tools/collect_runs.py $(WORKTREE)/experiments/$(notdir $(CURDIR))/$(RUNS) $(RUNS)
# The study's own first target stays the default goal.
.DEFAULT_GOAL :=
