from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from distill.errors import DistillError
from distill.report import (
    CONTRACT_KEYS,
    ROW_KEYS,
    SYSTEMS,
    MetricsReport,
    agreement,
    classification_metrics,
    format_table,
    load_metrics,
    report_from_rows,
    results_markdown,
)

# Predictions [0, 0, 1, 2, 2, 1] against gold [0, 1, 1, 2, 0, 1]:
#   class 0: tp 1, fp 1, fn 1 -> F1 1/2;  class 1: tp 2, fp 0, fn 1 -> F1 4/5;
#   class 2: tp 1, fp 1, fn 0 -> F1 2/3;  accuracy 4/6.
PREDS = [0, 0, 1, 2, 2, 1]
GOLD = [0, 1, 1, 2, 0, 1]
MACRO_F1 = (1 / 2 + 4 / 5 + 2 / 3) / 3


def one_hot_logits(preds: list[int], num_classes: int) -> np.ndarray:
    logits = np.full((len(preds), num_classes), -5.0, dtype=np.float32)
    logits[np.arange(len(preds)), preds] = 5.0
    return logits


def test_accuracy_and_macro_f1_by_hand() -> None:
    m = classification_metrics(one_hot_logits(PREDS, 3), np.array(GOLD))
    assert m["n"] == 6 and isinstance(m["n"], int)
    assert m["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert m["macro_f1"] == pytest.approx(MACRO_F1, abs=1e-6)


def test_macro_f1_ignores_classes_neither_gold_nor_predicted() -> None:
    # Two extra classes that no example has and the model never picks: no effect on macro-F1.
    wide = classification_metrics(one_hot_logits(PREDS, 5), GOLD)
    assert wide["macro_f1"] == pytest.approx(MACRO_F1, abs=1e-6)


def test_macro_f1_counts_a_predicted_class_without_gold_as_zero() -> None:
    # gold [0, 0], predicted [0, 1]: class 0 F1 = 2/3, class 1 (a false positive) F1 = 0.
    m = classification_metrics(one_hot_logits([0, 1], 3), [0, 0])
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0) / 2, abs=1e-6)
    assert m["accuracy"] == pytest.approx(0.5)


def test_ece_by_hand() -> None:
    # Confidences fall in three of the 15 bins (none on a bin edge):
    #   0.9 (bin [0.867, 0.933)): two rows, one right -> |0.5 - 0.9| * 2/4 = 0.200
    #   0.62 (bin [0.6, 0.667)): right                -> |1 - 0.62| * 1/4 = 0.095
    #   0.7 (bin [0.667, 0.733)): right               -> |1 - 0.7| * 1/4  = 0.075
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.62, 0.38], [0.3, 0.7]])
    labels = [0, 1, 0, 1]
    m = classification_metrics(np.log(probs), labels)
    assert m["ece"] == pytest.approx(0.37, abs=1e-5)
    assert m["accuracy"] == pytest.approx(0.75)


def test_logits_inside_unit_interval_are_still_softmaxed() -> None:
    # torchmetrics would read [0.9, 0.1] as probabilities (ECE 0.1); as logits the confidence is
    # softmax -> sigmoid(0.8) = 0.68997, so the one correct row has ECE 1 - 0.68997.
    m = classification_metrics(torch.tensor([[0.9, 0.1]]), torch.tensor([0]))
    assert m["ece"] == pytest.approx(1 - 1 / (1 + math.exp(-0.8)), abs=1e-5)


@pytest.mark.parametrize(
    ("logits", "labels", "message"),
    [
        (np.zeros((0, 3)), np.zeros(0), "shape"),
        (np.zeros((2, 3)), [0], "labels must have shape"),
        (np.zeros((2, 3)), [0, 3], "labels must lie in"),
        (np.array([[0.0, np.nan]]), [0], "NaN"),
    ],
)
def test_bad_metric_inputs_are_rejected(logits: np.ndarray, labels: list[int], message: str) -> None:
    with pytest.raises(DistillError, match=message):
        classification_metrics(logits, labels)


def test_agreement() -> None:
    student = one_hot_logits([0, 1, 2, 2], 3)
    teacher = torch.from_numpy(one_hot_logits([0, 1, 1, 0], 3))
    assert agreement(student, teacher) == pytest.approx(0.5)
    assert agreement(student, student) == 1.0
    with pytest.raises(DistillError, match="differ in shape"):
        agreement(student, student[:2])


def sample_report() -> MetricsReport:
    report = MetricsReport(source_lang="en", target_langs=["it", "es"])
    m = {"macro_f1": 0.6, "ece": 0.1, "n": 290}
    report.add("student", "it", "test", {**m, "accuracy": 0.71}, agreement=0.83)
    report.add("student", "es", "test", {**m, "accuracy": 0.65}, agreement=0.8)
    report.add("student", "en", "test", {**m, "accuracy": 0.78})
    report.add("teacher", "en", "test", {**m, "accuracy": 0.80})
    report.add("teacher_zero_shot", "it", "test", {**m, "accuracy": 0.35})
    report.add("teacher_translate_test", "it", "test", {**m, "accuracy": 0.66})
    report.add("direct_transfer", "it", "test", {**m, "accuracy": 0.55})
    report.add("tfidf_student", "it", "test", {**m, "accuracy": 0.5})
    report.add("student_no_kd", "it", "test", {**m, "accuracy": 0.52})
    report.add("supervised", "it", "test", {**m, "accuracy": 0.9})
    report.add("student_untrained", "it", "test", {**m, "accuracy": 0.05})
    report.add("student", "it", "validation", {**m, "accuracy": 0.7})
    return report


def test_metrics_json_follows_the_contract(tmp_path: Path) -> None:
    json_path, md_path = sample_report().write(tmp_path)
    assert json_path == tmp_path / "metrics.json" and md_path.is_file()
    data = json.loads(json_path.read_text())
    assert list(data)[:4] == list(CONTRACT_KEYS)
    assert data["task"] == "classification" and data["source_lang"] == "en"
    assert data["target_langs"] == ["it", "es"]
    for row in data["results"]:
        assert list(row)[:7] == list(ROW_KEYS)
        assert set(row) - set(ROW_KEYS) <= {"agreement"}
        assert row["system"] in SYSTEMS
        assert all(isinstance(row[k], str) for k in ("system", "lang", "split"))
        assert all(isinstance(row[k], float) for k in ("accuracy", "macro_f1", "ece"))
        assert isinstance(row["n"], int)
    assert data["results"][0] == {
        "system": "student",
        "lang": "it",
        "split": "test",
        "accuracy": 0.71,
        "macro_f1": 0.6,
        "ece": 0.1,
        "n": 290,
        "agreement": 0.83,
    }
    # Derived extras: the test split, source minus target; the teacher against its zero-shot row.
    assert data["transfer_gap"] == {"student": {"it": 0.07, "es": 0.13}, "teacher": {"it": 0.45}}
    assert data["agreement"] == {"it": 0.83, "es": 0.8}
    assert not list(tmp_path.glob(".tmp-*"))


def test_report_from_computed_metrics(tmp_path: Path) -> None:
    report = MetricsReport(source_lang="en", target_langs=["it"])
    row = report.add_predictions(
        "student", "it", "test", one_hot_logits(PREDS, 3), GOLD, teacher_logits=one_hot_logits(GOLD, 3)
    )
    assert row["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert row["agreement"] == pytest.approx(4 / 6, abs=1e-6)
    report.write_json(tmp_path / "metrics.json")
    assert load_metrics(tmp_path / "metrics.json") == report


def test_results_markdown_has_every_system_language_and_gap() -> None:
    report = sample_report()
    md = results_markdown(report)
    for system in SYSTEMS:
        assert f"`{system}`" in md
    assert "| system | en (source) | it | es |" in md
    assert "Split `test`" in md and "Split `validation`" in md
    assert "## Transfer gap" in md and "+0.070" in md and "+0.130" in md and "+0.450" in md
    assert "## Teacher agreement" in md and "0.830" in md
    assert "**0.710** / 0.600 / 0.100 (290)" in md


def test_format_table_is_aligned_plain_text() -> None:
    text = format_table(sample_report())
    lines = text.splitlines()
    table = lines[: lines.index("")]
    assert table[0].startswith("[test] system") and "en* acc" in table[0] and "it acc" in table[0]
    assert len({len(line) for line in table}) == 1  # every row padded to the same width
    assert [line.split()[0] for line in table[1:]] == list(SYSTEMS)
    assert "student: it +0.070, es +0.130" in text
    assert "teacher agreement (student): it 0.830, es 0.800" in text
    assert format_table(MetricsReport(source_lang="en", target_langs=["it"])) == "no results"


def test_load_metrics_round_trip_keeps_extras(tmp_path: Path) -> None:
    report = sample_report()
    report.extras["mode"] = "parallel"
    report.write_json(tmp_path / "metrics.json")
    again = load_metrics(tmp_path / "metrics.json")
    assert again == report
    assert again.to_dict() == report.to_dict()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "top level must be an object"),
        (
            '{"task": "classification", "source_lang": "en", "results": []}',
            r"missing top-level keys \['target_langs'\]",
        ),
        (
            '{"task": "classification", "source_lang": "en", "target_langs": ["it"], '
            '"results": [{"system": "student"}]}',
            r"results\[0\]: missing keys",
        ),
        (
            '{"task": "classification", "source_lang": "en", "target_langs": ["it"], '
            '"results": [{"system": "oracle", '
            '"lang": "it", "split": "test", "accuracy": 0.5, "macro_f1": 0.5, "ece": 0.1, "n": 3}]}',
            "unknown system 'oracle'",
        ),
        (
            '{"task": "classification", "source_lang": "en", "target_langs": ["it"], '
            '"results": [{"system": "student", '
            '"lang": "it", "split": "test", "accuracy": "high", "macro_f1": 0.5, "ece": 0.1, "n": 3}]}',
            "'accuracy' must be a number",
        ),
    ],
)
def test_load_metrics_bad_file_names_file_and_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(text)
    with pytest.raises(DistillError, match=message) as info:
        load_metrics(path)
    assert str(path) in str(info.value)


def test_load_metrics_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DistillError, match="no such metrics file"):
        load_metrics(tmp_path / "metrics.json")


def test_unknown_system_duplicates_and_bad_values_rejected() -> None:
    report = MetricsReport(source_lang="en", target_langs=["it"])
    ok = {"accuracy": 0.5, "macro_f1": 0.5, "ece": 0.1, "n": 10}
    with pytest.raises(DistillError, match="unknown system 'teacher_mt'"):
        report.add("teacher_mt", "it", "test", ok)
    report.add("student", "it", "test", ok)
    with pytest.raises(DistillError, match="duplicate"):
        report.add("student", "it", "test", ok)
    with pytest.raises(DistillError, match="'ece' must be a number in"):
        report.add("student", "es", "test", {**ok, "ece": 1.5})
    with pytest.raises(DistillError, match="'n' must be a positive integer"):
        report.add("student", "es", "test", {**ok, "n": True})
    with pytest.raises(DistillError, match="unknown system"):
        report_from_rows([{"system": "gpt", "lang": "it", "split": "test", **ok}], "en", ["it"])
    report.extras["results"] = []
    with pytest.raises(DistillError, match="may not redefine"):
        report.to_dict()
