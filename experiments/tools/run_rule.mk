# One study run as a make target (included by the study Makefiles):
#   $(eval $(call RUN_RULE,<experiment>,<lang>,<seed>))
# makes $(RUNS)/<experiment>/<lang>/seed<seed>/metrics.json with distill-run, $(COMMON) appended,
# then drops the checkpoints. metrics.json is written last (atomically), so an interrupted run is
# redone and a finished one is not. Needs OFFLINE, BIN, RUNS and COMMON.
define RUN_RULE
$(RUNS)/$(1)/$(2)/seed$(3)/metrics.json:
	$(OFFLINE) $(BIN)/distill-run experiment=$(1) data.target_langs=[$(2)] seed=$(3) \
	  hydra.run.dir=$(RUNS)/$(1)/$(2)/seed$(3) $(COMMON)
	rm -rf $(RUNS)/$(1)/$(2)/seed$(3)/checkpoints
endef
