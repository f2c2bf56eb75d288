"""``task=embedding``: multilingual sentence embeddings by distillation (Reimers & Gurevych, 2020).

The teacher is a source-language sentence encoder used as is (all-MiniLM-L6-v2: mean pooling, then
L2 normalisation, as sentence-transformers runs it). Its embeddings of the source side of every
pair are computed once into the shared cache. The student (multilingual-e5-small or any encoder,
mean pooling) learns with the ``emb`` loss to put both the source sentence and its translation onto
the teacher's source embedding (through a learned projection when the widths differ).

Evaluation on the held-out test pairs, per target language: translation retrieval by cosine among
every pair of the language, accuracy@1 and mean reciprocal rank in both directions
(``retrieval_tgt2src``, ``retrieval_src2tgt``, ``mrr_tgt2src``, ``mrr_src2tgt``), and the MSE of the
target embedding to the teacher's source embedding; for the ``student``, the ``student_untrained``
(the same encoder before distillation) and the teacher itself on the target text
(``teacher_zero_shot``). The per-pair outcomes go to ``retrieval_hits.parquet`` (what a study
resamples). Two more measurements, for ``student`` and ``student_untrained``:

- the English geometry: a source-language row with ``teacher_spearman``, the Spearman correlation
  of the pairwise cosine similarities of up to 1,000 source-side test sentences (the first distinct
  texts, target languages in order) with the teacher's (:func:`distill.report.metrics.geometry_spearman`);
- the guard: the same retrieval scores on the first 1,000 validation pairs of each language
  (split ``validation``); when the distilled student retrieves worse there than the untrained
  one, the summary and ``results.md`` say so, and ``metrics.json`` records it under ``guard``.

``student.num_layers`` cuts the student to its first layers before anything is scored or trained.
The export is a plain ``AutoModel`` folder that also loads as a ``SentenceTransformer``.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from datasets import Dataset, DatasetDict, concatenate_datasets
from omegaconf import DictConfig
from torch import Tensor, nn

from distill.cache import cached_table, table_key
from distill.data.collate import token_lengths, tokenize
from distill.data.datamodule import DistillDataModule
from distill.errors import DistillError
from distill.export import ModelCard, check_export_folder, log_artifact, render_card
from distill.models.encoder import encode, keep_layers, load_encoder, pooled
from distill.models.fast_dropout import use_fast_dropout
from distill.records import StageTimer, in_run_dir
from distill.report import (
    MetricsReport,
    geometry_spearman,
    retrieval_guard,
    retrieval_outcomes,
    retrieval_scores,
    round_score,
)
from distill.settings import check_config
from distill.stages.export import export_onnx_with_parity
from distill.stages.prepare import prepare
from distill.systems.steps import OptimizerFactory, StepSystem
from distill.tasks.base import Trained
from distill.teacher import weights_fingerprint
from distill.training import fit_and_load_best
from distill.utils.atomic import atomic_dir
from distill.utils.config import build

log = logging.getLogger(__name__)
SPLITS = ("train", "validation")
#: Validation pairs per language that the guard scores (the first ones), to bound its cost.
GUARD_PAIRS = 1000
#: Source-side test sentences of the English geometry agreement.
GEOMETRY_SENTENCES = 1000


def teacher_embeddings(
    cfg: DictConfig, texts: Sequence[str], what: str, teacher: Callable[[], tuple[Any, Any]] | None = None
) -> tuple[np.ndarray, bool]:
    """The teacher's embeddings of ``texts`` from the cache (computed on a miss): ``(array, hit)``.

    ``teacher`` gives the loaded ``(model, tokenizer)`` on a miss (e.g. a :func:`functools.cache`
    loader shared by every split and language); by default it is loaded for this call.
    """

    t = cfg.teacher
    spec: dict[str, Any] = {
        "v": 1,
        "weights": weights_fingerprint(str(t.model)),
        "max_length": int(t.max_length),
        "normalize": bool(t.normalize),
        "pooling": "mean",
        "prefix": str(t.prefix),
    }
    key = table_key(spec, *texts)

    def compute() -> dict[str, Any]:
        model, tokenizer = teacher() if teacher is not None else load_encoder(str(t.model), "teacher encoder")
        emb = encode(
            model,
            tokenizer,
            texts,
            normalize=spec["normalize"],
            max_length=spec["max_length"],
            prefix=spec["prefix"],
            desc=f"teacher embeddings {what}",
        )
        return {"embedding": list(emb)}

    entry = cached_table("embeddings", key, len(texts), compute, what=what, **spec)
    return np.asarray(entry.dataset.with_format("numpy")["embedding"], dtype=np.float32), entry.hit


# ---------------------------------------------------------------------------------------- the system


class EmbeddingSystem(StepSystem):
    """The student encoder and the weighted loss (``emb``); the teacher's embeddings arrive in the batch.

    Args:
        encoder: The student, an ``AutoModel``.
        loss: The weighted loss; reads ``student_tgt_emb``, ``student_src_emb``, ``teacher_emb``.
        optimizer: A partial optimizer over the trainable parameters (encoder and projection).
        langs: Target language codes, in the id order of the batch's ``lang`` column.
        base_model: The encoder the student started from (kept in checkpoints).
        normalize: L2-normalise the student's embeddings (as the teacher's are).
        fast_dropout: Draw the dropout masks with :mod:`distill.models.fast_dropout` on CPU
            (``student.fast_dropout``): the same dropout, cheaper random numbers.
    """

    def __init__(
        self,
        encoder: nn.Module,
        loss: nn.Module,
        optimizer: OptimizerFactory,
        langs: Sequence[str],
        base_model: str | None = None,
        normalize: bool = True,
        fast_dropout: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["encoder", "loss", "optimizer"])
        self.encoder = encoder.train()
        if fast_dropout:
            use_fast_dropout(self.encoder)
        self.loss = loss
        self.optimizer_factory = optimizer
        self.normalize = normalize

    def _embed(self, batch: Mapping[str, Tensor], side: str) -> Tensor:
        inputs = {k.removeprefix(f"{side}_"): v for k, v in batch.items() if k.startswith(f"{side}_")}
        return pooled(self.encoder, inputs, self.normalize)

    def _step(self, batch: Mapping[str, Tensor], stage: str) -> Tensor:
        out = dict(batch)
        out["student_tgt_emb"] = self._embed(batch, "tgt")
        out["student_src_emb"] = self._embed(batch, "src")
        result = self.loss(out)
        self.log_dict(result.to_log(stage), batch_size=len(batch["teacher_emb"]), prog_bar=stage == "val")
        return result.total


class EmbeddingCollator:
    """Tokenise target and source text (dynamic padding); stack the teacher's embeddings."""

    def __init__(self, tokenizer: Any, max_length: int, prefix: str = "") -> None:
        self.tokenizer, self.max_length, self.prefix = tokenizer, max_length, prefix

    def lengths(self, rows: Dataset) -> np.ndarray:
        """Student tokens per row, both sides (what length-bucketed batches sort by)."""
        return token_lengths(self.tokenizer, rows, ["tgt", "src"], self.max_length, prefix=self.prefix)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Tensor]:
        batch: dict[str, Tensor] = {}
        for side in ("tgt", "src"):
            texts = [r[side] for r in rows]
            batch.update(
                tokenize(self.tokenizer, texts, self.max_length, prefix=self.prefix, keys=f"{side}_")
            )
        batch["teacher_emb"] = torch.tensor(np.asarray([r["teacher_emb"] for r in rows]), dtype=torch.float32)
        batch["lang"] = torch.tensor([r["lang"] for r in rows], dtype=torch.long)
        return batch


# ------------------------------------------------------------------------------------------ the run


def _rows(pairs: Dataset, emb: np.ndarray, lang_id: int) -> Dataset:
    return Dataset.from_dict(
        {
            "tgt": pairs["tgt"],
            "src": pairs["src"],
            "teacher_emb": emb.tolist(),
            "lang": [lang_id] * len(pairs),
        }
    )


def _system(cfg: DictConfig, langs: list[str], teacher_dim: int) -> tuple[EmbeddingSystem, Any]:
    encoder, tokenizer = load_encoder(str(cfg.student.model))
    if cfg.student.get("num_layers") is not None:
        keep_layers(encoder, int(cfg.student.num_layers))
    if cfg.student.freeze_word_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    loss = build(cfg.loss, "loss", student_dim=int(encoder.config.hidden_size), teacher_dim=teacher_dim)
    system = EmbeddingSystem(
        encoder,
        loss,
        build(cfg.student.optimizer, "student.optimizer"),
        langs=langs,
        base_model=str(cfg.student.model),
        normalize=bool(cfg.student.normalize),
        fast_dropout=bool(cfg.student.get("fast_dropout", True)),
    )
    return system, tokenizer


def _scores(
    report: MetricsReport,
    system: str,
    lang: str,
    split: str,
    src: np.ndarray,
    tgt: np.ndarray,
    teacher_src: np.ndarray,
    project: Callable[[np.ndarray], np.ndarray] = lambda x: x,
) -> None:
    """Retrieval between ``src`` and ``tgt`` in the system's own space (a row, and the per-pair
    outcomes); MSE of ``project(tgt)`` (into the teacher's space) to the teacher's source embeddings."""
    outcomes = retrieval_outcomes(src, tgt)
    mse = round_score(np.mean((project(tgt) - teacher_src) ** 2))
    report.add(system, lang, split, {**retrieval_scores(outcomes), "mse": mse})
    report.retrieval[(system, lang, split)] = outcomes


def _pairs(labelled: EmbeddingLabels, lang: str, split: str) -> tuple[Dataset, np.ndarray]:
    """A language's scored pairs of ``split`` and the teacher's embeddings of their source side:
    every test pair, the first :data:`GUARD_PAIRS` validation pairs."""
    pairs, emb = labelled.data[lang][split], labelled.emb[lang][split]
    if split == "validation" and len(pairs) > GUARD_PAIRS:
        pairs, emb = pairs.select(range(GUARD_PAIRS)), emb[:GUARD_PAIRS]
    return pairs, emb


def _geometry_sample(labelled: EmbeddingLabels) -> list[tuple[str, int]]:
    """``(lang, test index)`` of the first :data:`GEOMETRY_SENTENCES` distinct source-side test
    texts, target languages in order (their test sets often share source sentences)."""
    seen: dict[str, tuple[str, int]] = {}
    for lang, dd in labelled.data.items():
        for i, text in enumerate(dd["test"]["src"]):
            if len(seen) == GEOMETRY_SENTENCES:
                return list(seen.values())
            seen.setdefault(text, (lang, i))
    return list(seen.values())


def _score_student(
    cfg: DictConfig,
    report: MetricsReport,
    name: str,
    system: EmbeddingSystem,
    tokenizer: Any,
    labelled: EmbeddingLabels,
) -> None:
    """The student's rows: retrieval on the test and (first) validation pairs of every language,
    and the agreement of its source-side geometry with the teacher's (a source-language row)."""
    s_kw, project = _student_kw(cfg, system), _projector(system)
    test_src: dict[str, np.ndarray] = {}
    for lang in labelled.data:
        for split in ("test", "validation"):
            pairs, t_src = _pairs(labelled, lang, split)
            src = encode(system.encoder, tokenizer, pairs["src"], **s_kw)
            tgt = encode(system.encoder, tokenizer, pairs["tgt"], **s_kw)
            _scores(report, name, lang, split, src, tgt, t_src, project)
            if split == "test":
                test_src[lang] = src
    sample = _geometry_sample(labelled)
    if len(sample) < 3:
        log.info(
            "%s: %d distinct source test sentences, too few for the geometry agreement", name, len(sample)
        )
        return
    mine = np.stack([test_src[lang][i] for lang, i in sample])
    teacher = np.stack([labelled.emb[lang]["test"][i] for lang, i in sample])
    rho = geometry_spearman(mine, teacher)
    if np.isfinite(rho):
        report.add(name, str(cfg.data.source_lang), "test", {"teacher_spearman": rho, "n": len(sample)})


def _projector(system: EmbeddingSystem) -> Callable[[np.ndarray], np.ndarray]:
    """The student -> teacher projection of the ``emb`` term (identity when the widths match)."""
    terms = getattr(system.loss, "terms", {})
    projection = getattr(terms["emb"], "projection", None) if "emb" in terms else None

    @torch.inference_mode()
    def project(x: np.ndarray) -> np.ndarray:
        if projection is None:
            return x
        return projection(torch.as_tensor(x)).float().numpy()  # type: ignore[no-any-return]

    return project


def export_encoder(
    cfg: DictConfig, system: EmbeddingSystem, tokenizer: Any, report: MetricsReport, langs: list[str]
) -> Path:
    """``<run dir>/student``: an ``AutoModel`` folder with the sentence-transformers files beside it."""

    out = Path(cfg.paths.output_dir) / "student"
    card = ModelCard(
        base_model=str(cfg.student.model),
        teacher=str(cfg.teacher.model),
        languages=[str(cfg.data.source_lang), *langs],
        command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        metrics=report,
        data={"name": str(cfg.data.name)},
        pipeline_tag="sentence-similarity",
    )
    normalize = bool(cfg.student.normalize)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
    encoder: Any = system.encoder
    hidden = int(encoder.config.hidden_size)
    prefix = str(cfg.student.prefix or "")
    # The text the student was trained with before every input: distill-serve reads the config key,
    # sentence-transformers applies the default prompt.
    encoder.config.xlt_distill_input_prefix = prefix
    with atomic_dir(out) as tmp:
        encoder.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / "modules.json").write_text(json.dumps(modules, indent=2))
        if prefix:
            st_config = {"prompts": {"query": prefix}, "default_prompt_name": "query"}
            (tmp / "config_sentence_transformers.json").write_text(json.dumps(st_config, indent=2))
        (tmp / "sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": int(cfg.student.max_length), "do_lower_case": False}, indent=2)
        )
        (tmp / "1_Pooling").mkdir()
        (tmp / "1_Pooling" / "config.json").write_text(
            json.dumps({"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True}, indent=2)
        )
        if normalize:
            (tmp / "2_Normalize").mkdir()
        (tmp / "README.md").write_text(render_card(card, []), encoding="utf-8")
        check_export_folder(tmp)
    log_artifact(out, name=f"student-{cfg.experiment_name}", metadata={"results": report.results})
    return out


@dataclass
class EmbeddingLabels:
    """What the label stage leaves: the pairs and the teacher's cached source-side embeddings.

    Attributes:
        data: Target language -> its parallel pairs (train/validation/test).
        teacher: The teacher encoder, used as it is (``teacher.model``).
        emb: Target language -> split -> the teacher's embeddings of the source side, (N, H).
    """

    data: dict[str, DatasetDict]
    teacher: str
    emb: dict[str, dict[str, np.ndarray]]
    #: The untrained student ``(system, tokenizer)``, once a stage has built it.
    student: tuple[EmbeddingSystem, Any] | None = None
    #: ``() -> (model, tokenizer)`` of the teacher, loaded once on first call (every stage shares it).
    load_teacher: Callable[[], tuple[Any, Any]] | None = None

    def teacher_encoder(self) -> tuple[Any, Any]:
        """The teacher's ``(model, tokenizer)``: the label stage's, or loaded now."""
        return (
            self.load_teacher()
            if self.load_teacher is not None
            else load_encoder(self.teacher, "teacher encoder")
        )

    def release_teacher(self) -> None:
        """Drop the loaded teacher: its rows stay in ``emb`` (and the cache), and nothing after the
        baselines reads the model, so it need not sit in memory through training (a later call to
        :meth:`teacher_encoder` loads it again)."""
        clear = getattr(self.load_teacher, "cache_clear", None)
        if clear is not None:
            clear()

    @property
    def dim(self) -> int:
        """The teacher's embedding width ``H``."""
        return int(next(iter(self.emb.values()))["train"].shape[1])


def _student_kw(cfg: DictConfig, system: EmbeddingSystem) -> dict[str, Any]:
    return {
        "normalize": system.normalize,
        "max_length": int(cfg.student.max_length),
        "prefix": cfg.student.prefix,
    }


def _student(cfg: DictConfig, labelled: EmbeddingLabels) -> tuple[EmbeddingSystem, Any]:
    """The student as distillation starts it, built once by whichever stage needs it first: the
    baselines score the very encoder and projection the distill stage then trains.

    Seeded here, not only at the start: a cold cache (models built, the teacher's embeddings
    computed) moves the generators on, and the student must start the same either way.
    """
    if labelled.student is None:
        pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
        labelled.student = _system(cfg, list(labelled.data), labelled.dim)
    return labelled.student


class EmbeddingTask:
    """Sentence embeddings: the teacher's rows are (N, H) embeddings of the source side."""

    name = "embedding"
    direction: Literal["maximize", "minimize"] = "minimize"  # val/loss: no accuracy here
    distributed = False  # its records are not written by rank 0 alone yet
    fine_tunes_teacher = False

    def check(self, cfg: DictConfig) -> None:
        check_config(cfg)

    def label(self, cfg: DictConfig, timer: StageTimer) -> EmbeddingLabels:
        with timer("prepare"):
            _, objects = prepare(cfg)
            data: dict[str, DatasetDict] = objects["data"]
        # Loaded on the first cache miss only, then shared by every split, language and stage.
        load_teacher = functools.cache(lambda: load_encoder(str(cfg.teacher.model), "teacher encoder"))
        with timer("label"):
            emb = {
                lang: {
                    s: teacher_embeddings(cfg, dd[s]["src"], f"{lang}/{s}", load_teacher)[0]
                    for s in ("train", "validation", "test")
                }
                for lang, dd in data.items()
            }
        return EmbeddingLabels(data, str(cfg.teacher.model), emb, load_teacher=load_teacher)

    def baselines(self, cfg: DictConfig, labelled: EmbeddingLabels) -> MetricsReport:
        """The teacher on target text (``teacher_zero_shot``) and the untrained student, scored
        now: the report the student's rows join."""
        langs = list(labelled.data)
        report = MetricsReport(source_lang=str(cfg.data.source_lang), target_langs=langs, task="embedding")
        # The teacher first: loading it may draw random numbers (a fresh pooler), and the student is
        # seeded after that, the same whether the label stage loaded the teacher or not.
        teacher, t_tok = labelled.teacher_encoder()
        system, tokenizer = _student(cfg, labelled)
        t_kw: dict[str, Any] = {  # as the teacher embedded the source side (teacher_embeddings)
            "normalize": bool(cfg.teacher.normalize),
            "max_length": int(cfg.teacher.max_length),
            "prefix": str(cfg.teacher.prefix),
        }
        for lang, dd in labelled.data.items():
            t_src = labelled.emb[lang]["test"]
            on_target = encode(teacher, t_tok, dd["test"]["tgt"], **t_kw)
            _scores(report, "teacher_zero_shot", lang, "test", t_src, on_target, t_src)
        del teacher, t_tok
        labelled.release_teacher()
        _score_student(cfg, report, "student_untrained", system, tokenizer, labelled)
        return report

    def distill(self, cfg: DictConfig, labelled: EmbeddingLabels) -> Trained:
        langs = list(labelled.data)
        system, tokenizer = _student(cfg, labelled)
        rows = {
            s: concatenate_datasets(
                [_rows(labelled.data[lang][s], labelled.emb[lang][s], i) for i, lang in enumerate(langs)]
            )
            for s in SPLITS
        }
        dm = DistillDataModule(
            rows["train"],
            rows["validation"],
            EmbeddingCollator(tokenizer, int(cfg.student.max_length), cfg.student.prefix),
            batch_size=int(cfg.student.batch_size),
            seed=int(cfg.seed),
            bucket_by_length=bool(cfg.student.bucket_by_length),
        )
        best = fit_and_load_best(cfg, system, dm, monitor=("val/loss", "min"))  # no accuracy here
        return Trained(system, tokenizer, best)

    def evaluate(
        self, cfg: DictConfig, labelled: EmbeddingLabels, trained: Trained, baselines: MetricsReport
    ) -> MetricsReport:
        report = baselines
        _score_student(cfg, report, "student", trained.system, trained.tokenizer, labelled)
        if (guard := retrieval_guard(report)) is not None:
            report.extras["guard"] = guard
        report.extras["student_checkpoint"] = in_run_dir(cfg, trained.best.path)
        report.extras["selection"] = "teacher_loss"  # val/loss to the teacher's embeddings: no labels
        report.extras["best_val"] = trained.best.to_dict()  # val/loss (min): sweep it with direction=minimize
        return report

    def export(
        self,
        cfg: DictConfig,
        labelled: EmbeddingLabels,
        trained: Trained,
        report: MetricsReport,
        hashes: dict[str, str],
    ) -> Path:
        if cfg.get("format", "hf") not in ("hf", "onnx"):
            raise DistillError(
                f"format must be hf or onnx, got {cfg.format!r}", fix="set format=hf or format=onnx"
            )
        folder = export_encoder(cfg, trained.system, trained.tokenizer, report, list(labelled.data))
        if cfg.get("format", "hf") == "onnx":  # onnx/model.onnx, checked by cosine on the test pairs
            export_onnx_with_parity(folder, labelled.data, [], int8=bool(cfg.get("onnx_int8", False)))
        return folder
