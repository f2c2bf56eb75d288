"""task=token_classification end to end on tiny models and the synthetic NER of data=token_toy:
mode=direct and mode=parallel (projection through alignments), the trained baselines, the cache, the
export."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import DictConfig

from distill.errors import DistillError
from distill.pipeline import run
from distill.tasks.token_classification.task import TokenClassificationTask
from tests.integration.helpers import compose_cfg

# The tiny random teacher needs a few epochs to tag the toy sentences at all.
TRAIN = ("teacher.epochs=10", "teacher.lr=3e-3", "student.optimizer.lr=3e-3", "trainer.max_epochs=6")
# mode=parallel also trains with back on the English words, and the baselines: direct_transfer, and
# supervised on Italian gold tags.
MODES = {
    "direct": ("mode=direct",),
    "parallel": ("mode=parallel", "loss.weights.back=0.5", "baselines=tiny", "+data.corpus.target_tags=true"),
}


def _cfg(out: Path, *overrides: str) -> DictConfig:
    return compose_cfg(
        out,
        "experiment=token_toy",
        "debug=tiny",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        *TRAIN,
        *overrides,
    )


def _logged(folder: Path, key: str) -> list[float]:
    """The values of ``key`` in a run's CSV log (``logger=csv``)."""
    (path,) = folder.rglob("metrics.csv")
    with path.open() as f:
        return [float(row[key]) for row in csv.DictReader(f) if row.get(key)]


def _rows(metrics: dict) -> dict[tuple[str, str], dict]:
    return {(r["system"], r["lang"]): r for r in metrics["results"]}


@pytest.fixture(scope="module")
def cache(module_cache: Path) -> Path:
    return module_cache


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> dict[str, tuple[Path, dict]]:
    out = {}
    for mode, overrides in MODES.items():
        folder = tmp_path_factory.mktemp(mode)
        out[mode] = (folder, run(_cfg(folder, *overrides))[0])
    return out


def test_both_modes_score_the_student_beside_the_teacher_on_words(runs: dict) -> None:
    for mode, (folder, metrics) in runs.items():
        assert metrics["task"] == "token_classification" and metrics["selection"] == "teacher_agreement"
        rows = _rows(metrics)
        trained = {("direct_transfer", "it"), ("supervised", "it")} if mode == "parallel" else set()
        assert set(rows) == {
            ("student", "en"),
            ("student", "it"),
            ("teacher", "en"),
            ("teacher_zero_shot", "it"),
            *trained,
        }
        for row in rows.values():
            assert 0 <= row["f1"] <= 1 and 0 <= row["token_accuracy"] <= 1 and row["n"] == 60
        assert rows[("student", "it")]["agreement"] > 0.5, mode
        assert set(metrics["per_type"]["student/it"]) <= {"PER", "LOC", "ORG"}
        assert json.loads((folder / "metrics.json").read_text())["mode"] == mode
        if mode == "parallel":  # the projection's coverage and confidence, per language
            alignment = metrics["alignment"]["it"]
            assert 0.5 < alignment["aligned_share"] <= 1 and 0 < alignment["mean_confidence"] <= 1
            assert metrics["confidence_weighting"] is True
            assert _logged(folder, "train/back") and all(v > 0 for v in _logged(folder, "val/back"))
    teacher = _rows(runs["direct"][1])[("teacher", "en")]
    assert teacher["f1"] > 0.5  # the teacher learned the source tags
    # Projected labels from the English side teach more than the teacher reading Italian itself
    # (on this toy data: the same names on both sides, the frames in other word orders).
    parallel = _rows(runs["parallel"][1])
    assert parallel[("student", "it")]["f1"] > parallel[("teacher_zero_shot", "it")]["f1"]


def test_sentence_counts_sum_to_the_reported_scores(runs: dict) -> None:
    import pandas as pd

    from distill.tasks.token_classification.metrics import scores_from_counts

    folder, metrics = runs["parallel"]
    counts = pd.read_parquet(folder / "token_counts.parquet")
    assert set(counts.columns) == {
        "system",
        "lang",
        "split",
        "id",
        "words",
        "correct",
        "tp",
        "n_pred",
        "n_gold",
    }
    for (system, lang), row in _rows(metrics).items():
        part = counts[(counts["system"] == system) & (counts["lang"] == lang)]
        assert len(part) == row["n"] == part["id"].nunique()
        scores = scores_from_counts(
            {k: part[k].to_numpy() for k in ("words", "correct", "tp", "n_pred", "n_gold")}
        )
        assert scores["f1"] == pytest.approx(row["f1"], abs=1e-6)
        assert scores["token_accuracy"] == pytest.approx(row["token_accuracy"], abs=1e-6)


def test_the_word_labels_are_cached_and_reused_by_the_next_job(
    runs: dict, tmp_path: Path, cache: Path
) -> None:
    first = runs["direct"][1]["word_label_cache_hits"]
    assert first == {"it/train": False, "it/validation": False}
    again, _ = run(_cfg(tmp_path / "again", "mode=direct", "seed=7", "trainer.max_epochs=1"))
    assert again["word_label_cache_hits"] == {"it/train": True, "it/validation": True}
    assert len(list((cache / "word_logits").iterdir())) == 4  # direct: it target; parallel: en side


def test_the_export_tags_a_sentence_with_plain_transformers(runs: dict) -> None:
    student = runs["parallel"][0] / "student"
    card = (student / "README.md").read_text()
    assert "token-classification" in card and "`B-PER`" in card
    code = (
        "import json, sys; from transformers import AutoModelForTokenClassification, pipeline; "
        f"m = AutoModelForTokenClassification.from_pretrained({str(student)!r}); "
        f"tagger = pipeline('token-classification', model={str(student)!r}, aggregation_strategy='simple'); "
        "out = tagger('ieri Maria ha visitato Roma'); "
        "groups = [e['entity_group'] for e in out]; "
        "print(json.dumps([sorted(m.config.id2label.values()), groups, 'distill' in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    tags, groups, imported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert tags == sorted(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]) and imported is False
    assert set(groups) <= {"PER", "LOC", "ORG"}


def test_direct_transfer_with_the_teachers_recipe_and_model_is_the_cached_teacher(
    tmp_path: Path, cache: Path
) -> None:
    # student.model is the teacher's and teacher.epochs the student's budget: one spec, one folder.
    teachers = cache / "token_teachers"
    before = set(teachers.iterdir()) if teachers.is_dir() else set()
    metrics, _ = run(
        _cfg(tmp_path, "mode=direct", "baselines=tiny", "teacher.epochs=2", "trainer.max_epochs=2")
    )
    new = {p.name for p in set(teachers.iterdir()) - before}
    assert new == {metrics["baseline_taggers"]["direct_transfer"]}
    rows = _rows(metrics)
    assert ("supervised", "it") not in rows  # baselines=tiny asks, but token_toy has no Italian tags
    assert metrics["baselines_left_out"] == {"supervised": "no target gold tags"}
    for key in ("f1", "token_accuracy", "ece"):  # the same tagger on the same words
        assert rows[("direct_transfer", "it")][key] == rows[("teacher_zero_shot", "it")][key]


@pytest.mark.parametrize(
    ("overrides", "match", "fix"),
    [
        (("mode=direct", "loss.weights.back=0.5"), "mode=direct", "mode=parallel"),
        (("mode=parallel", "loss.weights.cycle=1.0"), "cycle", "loss.weights.cycle=0"),
    ],
)
def test_terms_that_do_not_apply_to_words_are_refused(
    tmp_path: Path, overrides: tuple[str, ...], match: str, fix: str
) -> None:
    with pytest.raises(DistillError, match=match) as err:
        TokenClassificationTask().check(_cfg(tmp_path, *overrides))
    assert fix in str(err.value.fix)


def test_translate_mode_projects_the_teachers_tags_from_the_translation(tmp_path: Path, cache: Path) -> None:
    """mode=translate: the Italian training sentences are machine-translated into English (here a
    file of translations: the toy data's own English sides), the teacher tags the translation and the
    alignment carries the tags back to the Italian words the student reads."""
    from distill.tasks.token_classification.data import toy_data

    pairs = toy_data(n_train=160, n_validation=40, n_test=60, seed=0, mode="parallel").data["it"]
    table = tmp_path / "it-en.tsv"
    lines = ["src\ttgt"] + [
        f"{' '.join(w)}\t{' '.join(e)}"
        for split in ("train", "validation")
        for w, e in zip(pairs[split]["tokens"], pairs[split]["src_tokens"], strict=True)
    ]
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    metrics, _ = run(
        _cfg(
            tmp_path / "run",
            "mode=translate",
            "mode.translator.backend=file",
            f"+mode.translator.path={table}",
        )
    )
    rows = _rows(metrics)
    assert metrics["mode"] == "translate" and 0.5 < metrics["alignment"]["it"]["aligned_share"] <= 1
    assert rows[("student", "it")]["f1"] > rows[("teacher_zero_shot", "it")]["f1"]  # as parallel does
    assert len(list((cache / "translations").iterdir())) == 2  # train and validation, cached


def test_translate_mode_without_a_translation_names_the_sentence(tmp_path: Path) -> None:
    table = tmp_path / "it-en.tsv"
    table.write_text("src\ttgt\nnothing here\tnothing\n", encoding="utf-8")
    with pytest.raises(DistillError, match=r"sentences \(\d+ distinct\) have no translation in"):
        run(
            _cfg(
                tmp_path / "run",
                "mode=translate",
                "mode.translator.backend=file",
                f"+mode.translator.path={table}",
            )
        )
