"""``task=token_classification``: NER (BIO) and POS (UPOS) by word-level distillation.

The stages, for ``mode=direct`` (the teacher reads the target words) and ``mode=parallel`` (the
teacher reads the source side of word pairs; its word distributions are projected to the target
words through SimAlign alignments on the student encoder):

* **teacher**: ``teacher.model`` with a new token-classification head, fine-tuned on the source
  language's tags (cross-entropy on words, the ``ce`` term), cached by its spec and data;
* **label**: its word logits (:mod:`.labels`, cached per word: any sweep job over the same words
  and teacher reuses them), projected in parallel mode;
* **baselines**: the teacher on the source test set (``teacher``) and on the target test words
  (``teacher_zero_shot``); with ``baselines=tiny``/``full``, ``direct_transfer`` (``student.model``
  fine-tuned on the source tags with the teacher's recipe and the student's epoch budget, selected
  on the source validation split) and ``supervised`` (``student.model`` on the target gold tags,
  where the corpus has them: the upper bound), both cached taggers (:mod:`.tagger`);
* **distill**: the student (``...ForTokenClassification`` on ``student.model``) on the word rows
  with the ``kd`` term (in parallel mode each target word weighted by its alignment confidence,
  ``token.confidence_weighting``) and, in parallel mode, the ``back`` term on the source words
  against the teacher's own rows; selected on ``val/agreement_f1`` (macro-F1 over tags) with the
  teacher on held-out target sentences (no target-language gold label is read);
* **evaluate**: per target language, seqeval entity F1 (BIO; macro-F1 over tags for UPOS), token
  accuracy, token-level ECE and agreement with the teacher, in ``metrics.json``;
* **export**: a plain ``AutoModelForTokenClassification`` folder with the tag set in its config.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytorch_lightning as pl
from datasets import Dataset, DatasetDict
from omegaconf import DictConfig

from distill.data.datamodule import DistillDataModule
from distill.errors import DistillError
from distill.export import ModelCard, check_export_folder, log_artifact, render_card
from distill.models.encoder import load_encoder
from distill.records import StageTimer, in_run_dir
from distill.report import MetricsReport
from distill.report.contract import register_task
from distill.report.metrics import classification_metrics
from distill.settings import check_teacher_precision
from distill.student import freeze_word_embeddings
from distill.tasks.base import Trained
from distill.tasks.token_classification.data import TokenData
from distill.tasks.token_classification.labels import (
    cached_word_logits,
    project_labels,
    word_logits,
    word_masks,
    word_vectors,
)
from distill.tasks.token_classification.metrics import sentence_counts, token_metrics
from distill.tasks.token_classification.system import MASK_KEYS, TokenSystem, WordCollator
from distill.tasks.token_classification.tagger import (
    TaggerRecipe,
    direct_transfer_recipe,
    load_tagger,
    supervised_recipe,
    tagger_folder,
    teacher_recipe,
)
from distill.tasks.token_classification.translate import with_translated_source
from distill.tasks.token_classification.words import POOLING
from distill.teacher import weights_fingerprint
from distill.training import fit_and_load_best
from distill.utils.atomic import atomic_dir, atomic_file
from distill.utils.config import build

log = logging.getLogger(__name__)
NAME = "token_classification"
#: Per test sentence and system: words, correct words, entity counts (ids only, no text).
COUNTS_FILE = "token_counts.parquet"
# Headline first: entity F1 (BIO) or macro-F1 over tags (UPOS); token accuracy; token-level ECE.
register_task(NAME, ("f1", "token_accuracy", "ece"))
MODES = ("direct", "parallel", "translate")
#: Modes whose target words get their tags through alignment with source words (pairs, or MT).
ALIGNED = ("parallel", "translate")
# The loss terms on words: kd (target words) and, in mode=parallel, back (the source words of the
# pairs against the teacher's own rows). cycle compares the student's rows on the two sides of a
# pair row by row, and the words of a pair do not correspond one to one; roundtrip, ce and emb
# have no word-level inputs here.
TERMS = ("kd", "back")
#: Terms that read the source side of pairs: mode=parallel only.
PAIR_TERMS = ("back",)


@dataclass
class TokenLabels:
    """What the label stage leaves.

    Attributes:
        data: Target language -> its splits (the run's data hashes read ``tgt``/``src``).
        teacher: The fine-tuned teacher's folder.
        corpus: The run's :class:`TokenData`.
        rows: Target language -> ``train``/``validation`` rows for the student (``tokens``,
            ``teacher_logits``, ``teacher_mask``).
    """

    data: dict[str, DatasetDict]
    teacher: str
    corpus: TokenData
    rows: dict[str, dict[str, Dataset]] = field(default_factory=dict)
    #: Target language -> the teacher's word logits on its test sentences (the baselines stage).
    teacher_test: dict[str, list[np.ndarray]] = field(default_factory=dict)
    #: ``<lang>/<split>`` -> whether the teacher's word logits came from the cache.
    cache_hits: dict[str, bool] = field(default_factory=dict)
    #: The teacher ``(model, tokenizer)`` loaded by the label stage, for the baselines.
    tagger: tuple[Any, Any] | None = None
    #: Target language -> its aligned share of target words and their mean alignment confidence
    #: (``mode=parallel``, over the training and validation pairs).
    alignment: dict[str, dict[str, float]] = field(default_factory=dict)


def teacher_folder(cfg: DictConfig, corpus: TokenData) -> Path:
    """The teacher fine-tuned on the source tags, from the cache (``token_teachers``) or trained now."""
    src = corpus.source
    return tagger_folder(teacher_recipe(cfg), corpus.tags, src["train"], src["validation"], role="teacher")


def target_gold(corpus: TokenData) -> tuple[Dataset, Dataset, list[str]] | None:
    """The target languages' gold-tagged training sentences (``corpus.gold_train``, else a ``tags``
    column in their ``train`` split), their validation sentences (the ``validation`` split where it
    is tagged, else a tenth of ``train``) and those languages; ``None`` when no target language has any."""
    from datasets import concatenate_datasets

    train, validation, langs = [], [], []
    for lang, dd in corpus.data.items():
        if lang in corpus.gold_train:  # gold apart from the student's text (data=token_bible_*)
            gold = corpus.gold_train[lang].select_columns(["tokens", "tags"])
        elif "tags" in dd["train"].column_names:
            gold = dd["train"].select_columns(["tokens", "tags"])
        else:
            continue
        if lang not in corpus.gold_train and "tags" in dd["validation"].column_names:
            held = dd["validation"].select_columns(["tokens", "tags"])
        else:
            split = gold.train_test_split(test_size=0.1, seed=0)
            gold, held = split["train"], split["test"]
        train.append(gold)
        validation.append(held)
        langs.append(lang)
    if not langs:
        return None
    return concatenate_datasets(train), concatenate_datasets(validation), langs


def _aligner(cfg: DictConfig) -> tuple[Any, Any]:
    """The student's encoder and tokenizer, whose middle layer aligns the words of the pairs."""
    return load_encoder(str(cfg.student.model), "encoder for word alignment")


def _project(
    cfg: DictConfig,
    aligner: tuple[Any, Any],
    logits: list[np.ndarray],
    sources: list[list[str]],
    targets: list[list[str]],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The teacher's source word distributions carried to the target words: ``(probs, confidence,
    mask)`` per pair (:func:`.labels.project_labels`)."""
    enc, tok = aligner
    layer = min(int(cfg.token.align_layer), int(enc.config.num_hidden_layers))
    src_vec = word_vectors(enc, tok, sources, student_max_length(cfg), layer=layer)
    tgt_vec = word_vectors(enc, tok, targets, student_max_length(cfg), layer=layer)
    return project_labels([_softmax(x) for x in logits], src_vec, tgt_vec, str(cfg.token.align))


def _alignment_summary(splits: Iterable[Dataset]) -> dict[str, float]:
    """The share of target words aligned to a source word and their mean alignment confidence."""
    splits = list(splits)
    masks = [np.asarray(m, dtype=bool) for ds in splits for m in ds["teacher_mask"]]
    confidence = [np.asarray(c, dtype=np.float64) for ds in splits for c in ds["alignment_confidence"]]
    mask, conf = np.concatenate(masks), np.concatenate(confidence)
    return {
        "aligned_share": round(float(mask.mean()) if mask.size else 0.0, 6),
        "mean_confidence": round(float(conf[mask].mean()) if mask.any() else 0.0, 6),
        "words": int(mask.size),
    }


def student_max_length(cfg: DictConfig) -> int:
    """``student.max_length``; ``auto`` reads the cap (word lists are sentences, short)."""
    value = cfg.student.max_length
    return int(cfg.student.get("max_length_cap") or 128) if str(value) == "auto" else int(value)


def _only(logits: np.ndarray, tags: Sequence[str], types: Sequence[str]) -> np.ndarray:
    """Word log-probabilities with the mass of every tag of a type outside ``types`` moved to ``O``."""
    probs = _softmax(logits)
    other = [i for i, t in enumerate(tags) if t != "O" and t[2:] not in types]
    probs[:, tags.index("O")] += probs[:, other].sum(axis=1)
    probs[:, other] = 0.0
    return np.log(np.clip(probs, 1e-12, None))  # type: ignore[no-any-return]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


class TokenClassificationTask:
    """One tag per word: the teacher's rows are word logits, ragged per sentence."""

    name = NAME
    direction: Literal["maximize", "minimize"] = "maximize"  # val/agreement_f1
    distributed = False
    fine_tunes_teacher = True

    def __init__(self) -> None:
        self._counts: list[pd.DataFrame] = []  # every scored test set of this run

    def check(self, cfg: DictConfig) -> None:
        if "corpus" not in cfg.data:  # first: the experiment that fixes it also sets the loss
            raise DistillError(
                f"data={cfg.data.get('name')} has no token-level corpus (data.corpus)",
                fix="use experiment=token_toy (synthetic en->it NER, seconds), or loss=kd with "
                "data=token_toy|token_bible_ner|token_bible_pos|wikiann|conll2003|token_files",
            )
        check_teacher_precision(cfg)
        mode = str(cfg.mode.name)
        if mode not in MODES:
            raise DistillError(
                f"task={NAME} runs mode=direct, parallel or translate, got mode={mode}",
                fix="set mode=direct, mode=parallel or mode=translate",
            )
        if mode == "translate" and str(cfg.mode.get("direction", "test")) != "test":
            raise DistillError(
                f"task={NAME} translates the student's target sentences for the teacher "
                f"(mode.direction=test), not mode.direction={cfg.mode.direction}",
                fix="set mode.direction=test (the student reads real target text, the teacher its MT)",
            )
        if str(cfg.token.pooling) not in POOLING:
            raise DistillError(
                f"token.pooling must be one of {POOLING}, got {cfg.token.pooling!r}",
                fix="set token.pooling=first",
            )
        active = [k for k, w in (cfg.loss.get("weights") or {}).items() if float(w)]
        extra = [k for k in active if k not in TERMS]
        if extra:
            raise DistillError(
                f"task={NAME} trains the word-level terms {list(TERMS)}; loss.weights has {extra} > 0 "
                "(cycle would compare the two sides of a pair word by word, and their words differ)",
                fix=f"set loss=kd, or loss.weights.{extra[0]}=0",
            )
        pair_terms = [k for k in active if k in PAIR_TERMS]
        if pair_terms and mode == "direct":
            raise DistillError(
                f"loss.weights.{pair_terms[0]} > 0 reads the source words of pairs, which mode=direct "
                "does not have (the teacher reads the target words themselves)",
                fix=f"set mode=parallel, or loss.weights.{pair_terms[0]}=0 (loss=kd)",
            )

    def _teacher_spec(self, cfg: DictConfig, folder: Path) -> dict[str, Any]:
        return {
            "teacher": weights_fingerprint(str(folder)),
            "max_length": int(cfg.teacher.max_length),
            "pooling": str(cfg.token.pooling),
        }

    def label(self, cfg: DictConfig, timer: StageTimer) -> TokenLabels:
        mode = str(cfg.mode.name)
        with timer("prepare"):
            # translate: the corpus gives target words, MT gives their source side
            corpus: TokenData = build(
                cfg.data.corpus, "data.corpus", mode="direct" if mode == "translate" else mode
            )
            if mode == "translate":
                pretok = cfg.data.corpus.get("pretokenizers")
                corpus.data = {
                    lang: with_translated_source(
                        dd, lang, corpus.source_lang, cfg.mode.get("translator"), pretok
                    )
                    for lang, dd in corpus.data.items()
                }
        with timer("teacher"):
            folder = teacher_folder(cfg, corpus)
        labels = TokenLabels(dict(corpus.data), str(folder), corpus)
        with timer("label"):
            labels.tagger = load_tagger(str(folder), corpus.tags)
            aligner = _aligner(cfg) if mode in ALIGNED else None
            spec = self._teacher_spec(cfg, folder)
            for lang, dd in corpus.data.items():
                labels.rows[lang] = {
                    split: self._split_rows(cfg, labels, spec, aligner, f"{lang}/{split}", dd[split])
                    for split in ("train", "validation")
                }
                if aligner is not None:
                    labels.alignment[lang] = _alignment_summary(labels.rows[lang].values())
        return labels

    def _split_rows(
        self,
        cfg: DictConfig,
        labels: TokenLabels,
        spec: dict[str, Any],
        aligner: tuple[Any, Any] | None,
        what: str,
        ds: Dataset,
    ) -> Dataset:
        """The student's rows of one split: the teacher's word logits on the target words (direct)
        or projected from the source words (parallel, with the alignment confidence)."""
        assert labels.tagger is not None
        model, tokenizer = labels.tagger
        ml, pooling = int(cfg.teacher.max_length), spec["pooling"]
        sentences = [list(x) for x in ds["src_tokens" if aligner is not None else "tokens"]]
        logits, labels.cache_hits[what] = cached_word_logits(
            spec,
            sentences,
            functools.partial(word_logits, model, tokenizer, sentences, ml, pooling=pooling),
            what=what,
        )
        columns: dict[str, Any] = {"tokens": [list(x) for x in ds["tokens"]]}
        if aligner is None:
            columns["teacher_logits"] = [r.tolist() for r in logits]
            columns["teacher_mask"] = [m.tolist() for m in word_masks(logits)]
            return Dataset.from_dict(columns)
        projected = _project(cfg, aligner, logits, sentences, columns["tokens"])
        columns["teacher_logits"] = [
            np.log(np.clip(p, 1e-6, None)).astype(np.float32).tolist() for p, _, _ in projected
        ]
        columns["teacher_mask"] = [np.asarray(m, dtype=bool).tolist() for _, _, m in projected]
        columns["alignment_confidence"] = [np.asarray(c, dtype=np.float32).tolist() for _, c, _ in projected]
        if bool(cfg.token.get("confidence_weighting", True)):  # kd's per-word weight
            columns["teacher_weight"] = columns["alignment_confidence"]
        # back: the student on the source words learns the teacher's own (unprojected) rows there
        columns["src_tokens"] = sentences
        columns["teacher_src_logits"] = [r.tolist() for r in logits]
        columns["teacher_src_mask"] = [m.tolist() for m in word_masks(logits)]
        return Dataset.from_dict(columns)

    def _write_counts(self, path: Path) -> None:
        """Every scored test sentence's counts (:func:`.metrics.sentence_counts`; ids, no text):
        what a study's bootstrap resamples."""
        with atomic_file(path, "wb") as f:
            pd.concat(self._counts, ignore_index=True).to_parquet(f, index=False)

    def _predict(
        self, model: Any, tokenizer: Any, ds: Dataset, cfg: DictConfig, max_length: int, prefix: str = ""
    ) -> list[np.ndarray]:
        return word_logits(
            model,
            tokenizer,
            [list(x) for x in ds["tokens"]],
            max_length,
            pooling=str(cfg.token.pooling),
            prefix=prefix,
        )

    def _score(
        self,
        report: MetricsReport,
        system: str,
        lang: str,
        logits: list[np.ndarray],
        ds: Dataset,
        tags: list[str],
        scheme: str,
        teacher: list[np.ndarray] | None = None,
        split: str = "test",
        types: Sequence[str] | None = None,
    ) -> None:
        if types is not None:  # a corpus annotated for these types only: others read as O
            logits = [_only(x, tags, types) for x in logits]
        pred = [[tags[i] for i in x.argmax(1)] for x in logits]
        gold = [list(g) for g in ds["tags"]]
        metrics = token_metrics(gold, pred, scheme)
        ids = {t: i for i, t in enumerate(tags)}
        flat = classification_metrics(np.concatenate(logits), np.asarray([ids[t] for g in gold for t in g]))
        row = {
            "f1": round(metrics["f1"] if scheme == "bio" else flat["macro_f1"], 6),
            "token_accuracy": round(metrics["token_accuracy"], 6),
            "ece": flat["ece"],
            "n": len(gold),
        }
        agreement = None
        if teacher is not None:
            agreement = float(np.mean(np.concatenate(logits).argmax(1) == np.concatenate(teacher).argmax(1)))
        report.add(system, lang, split, row, agreement=agreement)
        sentence_ids = ds["id"] if "id" in ds.column_names else [str(i) for i in range(len(ds))]
        counts = pd.DataFrame({"system": system, "lang": lang, "split": split, "id": sentence_ids,
                               **sentence_counts(gold, pred, scheme)})  # fmt: skip
        self._counts.append(counts)
        if scheme == "bio":
            name = f"{system}/{lang}" if split == "test" else f"{system}/{lang}/{split}"
            report.extras.setdefault("per_type", {})[name] = metrics["per_type"]

    def _score_source_gold(
        self,
        report: MetricsReport,
        system: str,
        corpus: TokenData,
        predict: Callable[[Dataset], list[np.ndarray]],
    ) -> None:
        """``system`` on the human-tagged source sentences (split ``gold``), where the corpus has them."""
        if corpus.source_gold is None:
            return
        gold = corpus.source_gold
        self._score(report, system, corpus.source_lang, predict(gold), gold, corpus.tags, corpus.scheme,
                    split="gold", types=corpus.source_gold_types)  # fmt: skip

    def baselines(self, cfg: DictConfig, labelled: TokenLabels) -> MetricsReport:
        corpus = labelled.corpus
        report = MetricsReport(source_lang=corpus.source_lang, target_langs=list(corpus.data), task=NAME)
        model, tokenizer = labelled.tagger or load_tagger(labelled.teacher, corpus.tags)
        ml = int(cfg.teacher.max_length)
        self._score(
            report,
            "teacher",
            corpus.source_lang,
            self._predict(model, tokenizer, corpus.source["test"], cfg, ml),
            corpus.source["test"],
            corpus.tags,
            corpus.scheme,
        )
        self._score_source_gold(
            report, "teacher", corpus, lambda ds: self._predict(model, tokenizer, ds, cfg, ml)
        )
        for lang, dd in corpus.data.items():
            logits = self._predict(model, tokenizer, dd["test"], cfg, ml)
            labelled.teacher_test[lang] = logits
            self._score(report, "teacher_zero_shot", lang, logits, dd["test"], corpus.tags, corpus.scheme)
        self._trained_baselines(cfg, corpus, report)
        return report

    def _trained_baselines(self, cfg: DictConfig, corpus: TokenData, report: MetricsReport) -> None:
        """``direct_transfer`` and ``supervised`` (``baselines=``), each a cached tagger scored on the
        target test words; the cache keys go to ``extras["baseline_taggers"]``."""
        runs: list[tuple[str, TaggerRecipe, Dataset, Dataset, list[str]]] = []
        direct = direct_transfer_recipe(cfg)
        if direct is not None:  # source tags, selected on the source validation split
            runs.append(
                (
                    "direct_transfer",
                    direct,
                    corpus.source["train"],
                    corpus.source["validation"],
                    list(corpus.data),
                )
            )
        supervised = supervised_recipe(cfg, student_max_length(cfg))
        if supervised is not None:
            gold = target_gold(corpus)
            if gold is None:
                log.warning("baselines: no target-language gold tags to train on; supervised is left out")
                report.extras.setdefault("baselines_left_out", {})["supervised"] = "no target gold tags"
            else:
                runs.append(("supervised", supervised, *gold))
        for name, recipe, train, validation, langs in runs:
            folder = tagger_folder(recipe, corpus.tags, train, validation, role=name)
            report.extras.setdefault("baseline_taggers", {})[name] = folder.name
            model, tokenizer = load_tagger(str(folder), corpus.tags)
            for lang in langs:
                test = corpus.data[lang]["test"]
                logits = self._predict(model, tokenizer, test, cfg, recipe.max_length, recipe.prefix)
                self._score(report, name, lang, logits, test, corpus.tags, corpus.scheme)

    def distill(self, cfg: DictConfig, labelled: TokenLabels) -> Trained:
        from datasets import concatenate_datasets

        pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
        model, tokenizer = load_tagger(str(cfg.student.model), labelled.corpus.tags)
        if cfg.student.get("freeze_word_embeddings", False):
            freeze_word_embeddings(model)  # the 250k-row matrix would dominate every CPU step
        # back reads the source words, whose rows have their own mask (MASK_KEYS).
        loss = build(cfg.loss, "loss", mask_keys=MASK_KEYS)
        system = TokenSystem(
            model, loss, build(cfg.student.optimizer, "student.optimizer"), str(cfg.token.pooling)
        )
        rows = {
            s: concatenate_datasets([labelled.rows[lang][s] for lang in labelled.rows])
            for s in ("train", "validation")
        }
        dm = DistillDataModule(
            rows["train"],
            rows["validation"],
            WordCollator(tokenizer, student_max_length(cfg), str(cfg.student.prefix)),
            batch_size=int(cfg.student.batch_size),
            seed=int(cfg.seed),
        )
        best = fit_and_load_best(cfg, system, dm, monitor=("val/agreement_f1", "max"))
        return Trained(system, tokenizer, best)

    def evaluate(
        self, cfg: DictConfig, labelled: TokenLabels, trained: Trained, baselines: MetricsReport
    ) -> MetricsReport:
        report, corpus = baselines, labelled.corpus
        model = trained.system.model.eval()
        ml, prefix = student_max_length(cfg), str(cfg.student.prefix)
        self._score(
            report,
            "student",
            corpus.source_lang,
            self._predict(model, trained.tokenizer, corpus.source["test"], cfg, ml, prefix),
            corpus.source["test"],
            corpus.tags,
            corpus.scheme,
        )
        self._score_source_gold(
            report, "student", corpus, lambda ds: self._predict(model, trained.tokenizer, ds, cfg, ml, prefix)
        )
        for lang, dd in corpus.data.items():
            logits = self._predict(model, trained.tokenizer, dd["test"], cfg, ml, prefix)
            self._score(
                report,
                "student",
                lang,
                logits,
                dd["test"],
                corpus.tags,
                corpus.scheme,
                labelled.teacher_test.get(lang),
            )
        report.extras["student_checkpoint"] = in_run_dir(cfg, trained.best.path)
        report.extras["selection"] = "teacher_agreement"  # held-out target sentences, no gold labels
        report.extras["best_val"] = trained.best.to_dict()
        report.extras["mode"] = str(cfg.mode.name)
        report.extras["tags"] = list(corpus.tags)
        report.extras["word_label_cache_hits"] = dict(labelled.cache_hits)
        self._write_counts(Path(cfg.paths.output_dir) / COUNTS_FILE)
        if labelled.alignment:
            report.extras["alignment"] = dict(labelled.alignment)
            report.extras["confidence_weighting"] = bool(cfg.token.get("confidence_weighting", True))
        return report

    def export(
        self,
        cfg: DictConfig,
        labelled: TokenLabels,
        trained: Trained,
        report: MetricsReport,
        hashes: dict[str, str],
    ) -> Path:
        corpus = labelled.corpus
        out = Path(cfg.paths.output_dir) / "student"
        card = ModelCard(
            base_model=str(cfg.student.model),
            teacher=str(cfg.teacher.model),
            languages=[corpus.source_lang, *corpus.data],
            command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            metrics=report,
            data={"name": str(cfg.data.get("name", "")), **hashes},
            pipeline_tag="token-classification",
            input_prefix=str(cfg.student.prefix),
        )
        model = trained.system.model
        model.config.xlt_distill_input_prefix = str(cfg.student.prefix)
        with atomic_dir(out) as tmp:
            model.save_pretrained(str(tmp))
            trained.tokenizer.save_pretrained(str(tmp))
            (tmp / "README.md").write_text(render_card(card, corpus.tags), encoding="utf-8")
            check_export_folder(tmp)
        log_artifact(out, name=f"student-{cfg.experiment_name}", metadata={"results": report.results})
        return out
