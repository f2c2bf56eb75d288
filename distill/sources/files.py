"""``data=files``: a user's own tables and text files (DESIGN.md section 5).

``data.parallel`` holds the pairs (one spec, or one per target language), ``data.target_test`` a
labelled target-language test set per language, ``data.target_unlabelled`` raw target text
(:mod:`distill.sources.unlabelled`; with it, ``mode=direct`` needs no pairs), and ``data.source_train`` /
``source_validation`` / ``source_test`` the labelled source-language data; all are read by
:mod:`distill.data.files`, with ``data.columns`` mapping our column names to the user's.
"""

from __future__ import annotations

from datasets import Dataset, DatasetDict

from distill.data.files import read_parallel, read_table
from distill.data.parallel import per_language, split_by_hash
from distill.errors import DistillError
from distill.sources.base import (
    TRAIN_VALIDATION,
    Source,
    TeacherData,
    split_train_validation,
    teacher_data_of,
)
from distill.sources.unlabelled import has_unlabelled


class FilesSource(Source):
    """Local files: pairs split 80/10/10 by a hash of the pair id (90/10 when a target test is given)."""

    teacher_hint = ", or labelled source data with data.source_train=<file>"

    @property
    def _langs(self) -> list[str]:
        return [str(x) for x in self.data.get("target_langs") or []]

    @property
    def _columns(self) -> dict[str, str]:
        return dict(self.data.get("columns") or {})

    def _target_test(self, lang: str) -> Dataset:
        return read_table(
            per_language(self.data.get("target_test") or {}, lang, self._langs, "data.target_test"),
            required=("text", "label"),
            columns=self._columns,
            what=f"{lang} target test",
        )

    def _labelled(self, key: str) -> Dataset:
        return read_table(
            self.data[key], required=("text", "label"), columns=self._columns, what=f"data.{key}"
        )

    def parallel(self, lang: str) -> DatasetDict:
        """``data.parallel`` for ``lang``, with ``data.target_test`` as the test split when given.

        Raises:
            DistillError: ``data.parallel`` is not set, or a file problem (see :mod:`distill.data.files`).
        """
        if self.data.get("parallel") in (None, "", "???"):
            if has_unlabelled(self.data, lang):
                return self._raw_text_only(lang)
            raise DistillError(
                "data=files needs data.parallel (the parallel pairs), but it is not set",
                fix=f"e.g. data.parallel=en_{lang}.tsv (a table with src, tgt) or "
                f"data.parallel=[en.txt,{lang}.txt] (two aligned text files), or raw {lang} text "
                f"with mode=direct data.target_unlabelled.{lang}=<file>",
            )
        spec = per_language(self.data.get("parallel"), lang, self._langs, "data.parallel")
        pool = read_parallel(spec, columns=self._columns)
        tests = self.data.get("target_test") or {}
        if not tests or lang not in tests:
            return split_by_hash(pool)
        dd = split_by_hash(pool, TRAIN_VALIDATION)
        dd["test"] = self._target_test(lang).rename_column("text", "tgt")
        return dd

    def _raw_text_only(self, lang: str) -> DatasetDict:
        """No pairs, only raw text (``data.target_unlabelled``): the test split is ``data.target_test``."""
        if lang not in (self.data.get("target_test") or {}):
            raise DistillError(
                f"data=files without data.parallel takes its {lang} test set from data.target_test, "
                "which has none for it",
                fix=f"set data.target_test.{lang}=<file with text, label>, or give pairs with data.parallel",
            )
        test = self._target_test(lang)
        return DatasetDict({"test": test.rename_column("text", "tgt")})

    def teacher_data(self) -> TeacherData | None:
        """``data.source_train`` (and ``data.source_validation``, else 10% of it by a hash of the text)."""
        if not self.data.get("source_train"):
            return None
        train = self._labelled("source_train")
        if self.data.get("source_validation"):
            val = self._labelled("source_validation")
        else:
            train, val = split_train_validation(train)
        return teacher_data_of(train, val)

    def source_test(self) -> tuple[list[str], list[str]] | None:
        """``data.source_test`` (columns text, label), if set."""
        if not self.data.get("source_test"):
            return None
        test = self._labelled("source_test")
        return list(test["text"]), list(test["label"])

    def target_text(self, lang: str) -> DatasetDict:
        """The target side of ``data.parallel`` (``id``, ``tgt``, ``label``?) and ``data.target_test``."""
        out = DatasetDict()
        tests = self.data.get("target_test") or {}
        if self.data.get("parallel"):
            pool = read_parallel(
                per_language(self.data["parallel"], lang, self._langs, "data.parallel"), columns=self._columns
            )
            pool = pool.select_columns([c for c in ("id", "tgt", "label") if c in pool.column_names])
            out = split_by_hash(pool, TRAIN_VALIDATION) if lang in tests else split_by_hash(pool)
        if lang in tests:
            test = self._target_test(lang)
            out["test"] = test.rename_column("text", "tgt").add_column(
                "id", [f"test:{i}" for i in test["line"]]
            )
        return out

    def source_text(self) -> DatasetDict:
        """``data.source_train`` (labels optional) as ``id``, ``src`` (and ``label``), split 90/10.

        Raises:
            DistillError: ``data.source_train`` is not set.
        """
        if not self.data.get("source_train"):
            raise DistillError(
                "mode.direction=train translates the source data, but data.source_train is not set",
                fix="set data.source_train=<file with a text column; labels optional>, "
                "or mode.direction=test",
            )
        # Labels are optional: unlabelled source text is translated and labelled by the teacher alike.
        train = read_table(
            self.data["source_train"],
            required=("text",),
            optional=("label",),
            columns=self._columns,
            what="data.source_train",
        )
        train = train.rename_column("text", "src")
        return split_by_hash(train.add_column("id", [f"src:{i}" for i in train["line"]]), TRAIN_VALIDATION)
