"""The stages of a run, one plain function each; ``distill.pipeline.run`` chains them."""
