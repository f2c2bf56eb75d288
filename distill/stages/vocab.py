"""``student.trim_vocab``: keep only the vocabulary pieces of the texts the student may read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from distill.errors import DistillError
from distill.models.trim import trim_vocabulary
from distill.sources import source_test_data
from distill.stages.label import Labelled
from distill.utils.mapped_pages import column_released


class _StudentTexts:
    """Every text the student may read in this run, re-iterable and streamed from the Arrow columns."""

    def __init__(self, cfg: DictConfig, labelled: Labelled) -> None:
        self.cfg, self.labelled = cfg, labelled

    def __iter__(self) -> Iterator[str]:
        for dd in self.labelled.data.values():
            for ds in dd.values():
                for column in ("tgt", "src"):
                    if column in ds.column_names:
                        yield from column_released(ds, column)
        if self.labelled.rehearsal is not None:
            yield from self.labelled.rehearsal[0]["src"]
        source = source_test_data(self.cfg)
        if source is not None:
            yield from source[0]
        yield from _trim_extra(self.cfg.student.get("trim_vocab_extra"))


def _trim_extra(extra: Any) -> Iterator[str]:
    """``student.trim_vocab_extra``: a list of texts, or a text file (one text a line)."""
    if not extra:
        return
    if isinstance(extra, str):
        path = Path(extra).expanduser()
        if not path.is_file():
            raise DistillError(
                f"student.trim_vocab_extra={extra!r} is not a file",
                fix="name a text file (one text a line) or give a list of texts",
            )
        with path.open(encoding="utf-8") as f:
            yield from (line.rstrip("\n") for line in f)
        return
    yield from (str(t) for t in extra)


def trim_student_vocab(cfg: DictConfig, model: Any, tokenizer: Any, labelled: Labelled) -> Any:
    """``student.trim_vocab``: keep the pieces of the run's texts (in place); return the new tokenizer."""
    tokenizer, _ = trim_vocabulary(model, tokenizer, _StudentTexts(cfg, labelled), prefix=cfg.student.prefix)
    return tokenizer
