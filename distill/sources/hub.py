"""``data=hub``: parallel and labelled data from Hugging Face datasets (OPUS-100, Tatoeba, XNLI, ...).

``data.parallel`` describes the pairs and ``data.source_train``/``source_validation``/``source_test``
the labelled source-language data, each a dataset spec read by :mod:`distill.data.hub`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from datasets import DatasetDict

from distill.data.hub import hub_labelled, hub_parallel
from distill.data.parallel import HASH_SPLIT, split_by_hash
from distill.sources.base import (
    DATA_KEYS,
    TRAIN_VALIDATION,
    DataRef,
    Source,
    TeacherData,
    leaves,
    split_train_validation,
    teacher_data_of,
    unique_refs,
)


class HubSource(Source):
    """Datasets named by hub id or local folder (``{lang}``/``{source}`` filled in per language)."""

    def parallel(self, lang: str) -> DatasetDict:
        """``data.parallel`` names a dataset (see :mod:`distill.data.hub`).

        ``data.parallel.splits`` maps our splits to the dataset's: ``{pool: validation, test: test}``
        cuts the pool 90/10 into train/validation by id and takes the test split as is; ``{train:
        train, validation: validation, test: test}`` takes each; without it, the one ``split`` is cut
        80/10/10.
        """
        spec = dict(self.data.get("parallel") or {})
        source = self.source_lang
        own = dict(spec.pop("splits", None) or {})
        if not own:
            return split_by_hash(hub_parallel(spec, lang, source))
        out = DatasetDict()
        if "pool" in own:
            fractions = TRAIN_VALIDATION if "test" in own else HASH_SPLIT
            pool = hub_parallel({**spec, "split": own.pop("pool")}, lang, source)
            out.update(split_by_hash(pool, fractions))
        for ours, theirs in own.items():
            out[ours] = hub_parallel({**spec, "split": theirs}, lang, source)
        return out

    def teacher_data(self) -> TeacherData | None:
        """``data.source_train``: a labelled dataset (``path``, ``name``, ``split``, ``text``, ``label``)."""
        spec = self.data.get("source_train")
        if not spec:
            return None
        lang = self.source_lang
        train = hub_labelled(spec, lang)
        val_spec = self.data.get("source_validation")
        val = hub_labelled(val_spec, lang) if val_spec else None
        if val is None:
            train, val = split_train_validation(train)
        return teacher_data_of(train, val)

    def source_test(self) -> tuple[list[str], list[str]] | None:
        """``data.source_test``, a labelled dataset, if set."""
        if not self.data.get("source_test"):
            return None
        test = hub_labelled(self.data["source_test"], str(self.data["source_lang"]))
        return list(test["text"]), list(test["label"])

    def data_refs(self) -> list[DataRef]:
        """Each dataset spec once per language (its config name filled in); other values if they exist."""
        return list(unique_refs(self._refs()))

    def _refs(self) -> Iterator[DataRef]:
        source = str(self.data["source_lang"])
        langs = [str(x) for x in self.data.get("target_langs") or []]
        for key in DATA_KEYS:
            if key not in self.data:
                continue
            value = self.data[key]
            if isinstance(value, Mapping) and ("path" in value or "name" in value):
                # A hub spec: `path` (and the config `name`) may hold {lang}/{source} placeholders.
                for lang in langs or [source]:
                    path = str(value.get("path") or "").format(lang=lang, source=source)
                    config = value.get("name")
                    config = config.format(lang=lang, source=source) if isinstance(config, str) else config
                    if path:
                        yield DataRef(key, path, config, hub=True)
                continue
            yield from (DataRef(key, ref) for ref in leaves(value) if Path(ref).expanduser().exists())
