"""distill-report on synthetic metrics.json files: pooling over seeds, the table, the bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from distill.errors import DistillError
from distill.report import (
    MetricsReport,
    compare,
    load_runs,
    main,
    paired_bootstrap,
    pca_2d,
    pool,
    reliability_bins,
    summary,
    table_markdown,
    write_report,
)


def _row(system: str, lang: str, acc: float, n: int = 100) -> dict:
    return {
        "system": system,
        "lang": lang,
        "split": "test",
        "accuracy": acc,
        "macro_f1": acc,
        "ece": 0.1,
        "n": n,
    }


def _write_run(
    folder: Path, seed: int, variant: str, rows: list[dict], targets: list[str] | None = None
) -> Path:
    folder.mkdir(parents=True)
    data = {
        "task": "classification",
        "source_lang": "en",
        "target_langs": targets or ["it"],
        "results": rows,
        "run": {"experiment": "x", "variant": variant, "seed": seed, "teacher": "t"},
        "stage_seconds": {"distill": 60.0},
    }
    (folder / "metrics.json").write_text(json.dumps(data))
    return folder


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """Two student variants x three seeds; the baselines are the same in every run of a seed."""
    for seed, (kd, cyc) in enumerate([(0.60, 0.58), (0.64, 0.60), (0.62, 0.62)], start=1):
        base = [
            _row("teacher", "en", 0.80),
            _row("direct_transfer", "it", 0.50),
            _row("supervised", "it", 0.90),
        ]
        _write_run(tmp_path / "kd" / f"seed{seed}", seed, "kd", [_row("student", "it", kd), *base])
        _write_run(
            tmp_path / "cyc" / f"seed{seed}", seed, "kd+back+cycle", [_row("student", "it", cyc), *base]
        )
    return tmp_path


def test_pool_gives_mean_std_and_seed_count(study: Path) -> None:
    pooled = pool(load_runs([study]))
    kd = pooled.cell("student (kd)", "it")
    assert kd is not None and kd.seeds == 3
    assert kd.mean == pytest.approx(0.62)
    assert kd.std == pytest.approx(np.std([0.60, 0.64, 0.62], ddof=1))
    # A baseline repeated in both runs of a seed counts once per seed.
    direct = pooled.cell("direct_transfer", "it")
    assert direct is not None and direct.seeds == 3 and direct.std == 0.0
    assert pooled.names[:2] == ["student (kd)", "student (kd+back+cycle)"]


def test_table_marks_best_non_reference_per_column(study: Path) -> None:
    table = table_markdown(pool(load_runs([study])))
    lines = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    assert "**62.0 ± 2.0 (3)**" in lines["`student (kd)`"]
    assert "**" not in lines["`student (kd+back+cycle)`"]
    assert "**" not in lines["`supervised`"]  # a reference, never marked although it is higher
    assert "90.0 ± 0.0 (3)" in lines["`supervised`"]
    assert "80.0 ± 0.0 (3)" in lines["`teacher`"]


def test_one_variant_keeps_the_plain_student_name(tmp_path: Path) -> None:
    _write_run(tmp_path / "a", 1, "kd", [_row("student", "it", 0.5)])
    _write_run(tmp_path / "b", 2, "kd", [_row("student", "it", 0.7)])
    pooled = pool(load_runs([tmp_path]))
    assert pooled.names == ["student"]
    cell = pooled.cell("student", "it")
    assert cell is not None and cell.mean == pytest.approx(0.6)


def test_baselines_fitted_to_the_teachers_labels_are_kept_apart_per_teacher(tmp_path: Path) -> None:
    # mode=direct beside a parallel run: each run's tfidf_student learns from its own teacher's
    # labels, so the two are different systems (never pooled into one cell, one hiding the other).
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 200)
    for variant, teacher, tfidf in (("kd", "minilm", 0.67), ("kd direct", "me5", 0.43)):
        report = MetricsReport(source_lang="en", target_langs=["hi"])
        for system, acc in (("student", 0.6), ("tfidf_student", tfidf), ("direct_transfer", 0.43)):
            logits = np.eye(3)[np.where(np.arange(200) < acc * 200, gold, (gold + 1) % 3)] * 4
            report.add_predictions(system, "hi", "test", logits, gold)
        report.extras["run"] = {"seed": 1, "variant": variant, "teacher": teacher}
        report.write(tmp_path / variant.replace(" ", "_"))
    pooled = pool(load_runs([tmp_path]))
    assert pooled.cell("tfidf_student (minilm)", "hi").mean == pytest.approx(0.67)
    assert pooled.cell("tfidf_student (me5)", "hi").mean == pytest.approx(0.43)
    assert pooled.cell("direct_transfer", "hi") is not None  # the same model in both: one name
    # Each student is compared with its own teacher's tfidf_student only; direct_transfer with both.
    pairs = {(c.student, c.baseline) for c in compare(pooled, ("direct_transfer", "tfidf_student"), 50)}
    kd, direct = "student (kd)", "student (kd direct)"
    assert pairs == {(kd, "tfidf_student (minilm)"), (direct, "tfidf_student (me5)"),
                     (kd, "direct_transfer"), (direct, "direct_transfer")}  # fmt: skip
    # summary.json records the teacher behind each row that depends on one.
    rows = {r["name"]: r["teacher"] for r in summary(pooled, [], tmp_path)["cells"]}
    assert rows == {kd: "minilm", direct: "me5", "tfidf_student (minilm)": "minilm",
                    "tfidf_student (me5)": "me5", "direct_transfer": None}  # fmt: skip


def test_runs_per_target_keep_their_own_source_column(tmp_path: Path) -> None:
    _write_run(tmp_path / "it", 1, "kd", [_row("student", "it", 0.6), _row("student", "en", 0.7)], ["it"])
    _write_run(tmp_path / "ja", 1, "kd", [_row("student", "ja", 0.5), _row("student", "en", 0.4)], ["ja"])
    pooled = pool(load_runs([tmp_path]))
    assert pooled.source_langs == ["en (it)", "en (ja)"] and pooled.target_langs == ["it", "ja"]
    table = table_markdown(pooled)
    assert "source mean" in table and "target mean" in table
    row = next(line for line in table.splitlines() if line.startswith("| `student`"))
    assert "55.0 ± 0.0 (1)" in row  # both the source mean (0.7, 0.4) and the target mean (0.6, 0.5)


def test_paired_bootstrap_interval() -> None:
    rng = np.random.default_rng(1)
    a = (rng.random(300) < 0.8).astype(float)
    b = (rng.random(300) < 0.5).astype(float)
    diff, low, high = paired_bootstrap([(a, b)], n_resamples=500)
    assert diff == pytest.approx(a.mean() - b.mean())
    assert 0 < low < diff < high
    same = paired_bootstrap([(a, a), (b, b)])
    assert same == (0.0, 0.0, 0.0)
    with pytest.raises(DistillError, match="same test examples"):
        paired_bootstrap([(a, b[:10])])


def test_reliability_bins_and_pca() -> None:
    conf = np.array([0.05, 0.15, 0.95, 0.99])
    corr = np.array([0.0, 1.0, 1.0, 1.0])
    bins = reliability_bins(conf, corr, bins=10)
    assert bins[0] == (0.05, 0.0, 1) and bins[-1][2] == 2 and bins[-1][1] == 1.0
    x = np.random.default_rng(0).normal(size=(50, 8)) * np.array([5, 1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    xy = pca_2d(x)
    assert xy.shape == (50, 2) and xy[:, 0].var() > xy[:, 1].var() > 0


def test_report_without_predictions_writes_table_and_bars(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    path = write_report([study], out)
    text = path.read_text()
    assert "| `student (kd)` |" in text and "No per-example predictions" in text
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "reliability.png").exists()  # no predictions.parquet to draw it from
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target_mean"]["student (kd)"]["seeds"] == 3
    # Runs are named relative to the report folder, so a committed report names no machine's paths.
    assert summary["runs"] and all(not Path(r).is_absolute() for r in summary["runs"])
    assert all((out / r).resolve().is_file() for r in summary["runs"])


def test_rows_runs_of_one_seed_score_differently_are_listed_and_each_student_meets_its_own(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The cache rebuilt between two runs of seed 1: the second run's teacher, and the tfidf_student
    # fitted to its labels, are refits. The cell keeps the first run's score and says so; the
    # bootstrap pairs each student with the rows of its own run.
    gold = np.random.default_rng(0).integers(0, 3, 200)

    def logits(acc: float) -> np.ndarray:
        return np.eye(3)[np.where(np.arange(200) < acc * 200, gold, (gold + 1) % 3)] * 4

    for folder, variant, tfidf in (("a_kd", "kd", 0.5), ("b_cyc", "kd+back+cycle", 0.7)):
        report = MetricsReport(source_lang="en", target_langs=["hi"])
        report.add_predictions("student", "hi", "test", logits(0.6), gold)
        report.add_predictions("tfidf_student", "hi", "test", logits(tfidf), gold)
        report.add_predictions("direct_transfer", "hi", "test", logits(0.4), gold)
        report.extras["run"] = {"seed": 1, "variant": variant, "teacher": "minilm"}
        report.write(tmp_path / "runs" / folder / "seed1")
    with caplog.at_level("WARNING"):
        pooled = pool(load_runs([tmp_path / "runs"]))
    assert "1 row(s) scored differently by runs of the same seed" in caplog.text
    [c] = pooled.conflicts
    assert (c.name, c.lang, c.seed, c.kept, c.other) == ("tfidf_student", "hi", 1, 0.5, 0.7)
    assert (c.kept_run.path.parent.parent.name, c.other_run.path.parent.parent.name) == ("a_kd", "b_cyc")
    assert pooled.cell("tfidf_student", "hi").scores == {1: 0.5}
    comparisons = compare(pooled, ("tfidf_student", "direct_transfer"), 50)
    diffs = {(x.student.removeprefix("student "), x.baseline): round(x.diff, 6) for x in comparisons}
    kd, cyc = "(kd)", "(kd+back+cycle)"
    assert diffs == {(kd, "tfidf_student"): 0.1, (cyc, "tfidf_student"): -0.1,
                     (kd, "direct_transfer"): 0.2, (cyc, "direct_transfer"): 0.2}  # fmt: skip
    text = write_report([tmp_path / "runs"], tmp_path / "out").read_text()
    assert "## Rows that differ between runs of one seed" in text
    assert "| `tfidf_student` | hi | 1 | 50.0 | a_kd/seed1 | 70.0 | b_cyc/seed1 |" in text
    [record] = json.loads((tmp_path / "out" / "summary.json").read_text())["conflicts"]
    assert record["kept_run"] == "../runs/a_kd/seed1/metrics.json" and record["other"] == 0.7


def test_bootstrap_table_from_predictions(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 200)
    for seed in (1, 2):
        report = MetricsReport(source_lang="en", target_langs=["it"])
        good = np.eye(3)[np.where(rng.random(200) < 0.8, gold, (gold + 1) % 3)] * 4
        bad = np.eye(3)[np.where(rng.random(200) < 0.4, gold, (gold + 1) % 3)] * 4
        report.add_predictions("student", "it", "test", good, gold)
        report.add_predictions("direct_transfer", "it", "test", bad, gold)
        report.extras["run"] = {"seed": seed, "variant": "kd"}
        report.write(tmp_path / "runs" / str(seed))
    text = write_report([tmp_path / "runs"], tmp_path / "out").read_text()
    line = next(x for x in text.splitlines() if "`direct_transfer`" in x and x.startswith("| it"))
    assert " * |" in line and "| 2 | 200 |" in line  # 2 seeds, 200 examples, interval excludes 0
    assert (tmp_path / "out" / "reliability.png").is_file()


def test_cli_errors_name_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing")]) == 2
    assert "missing: no such file or folder" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2
    assert "no metrics.json under" in capsys.readouterr().err
    (tmp_path / "metrics.json").write_text("{not json")
    assert main([str(tmp_path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_runs_selected_on_target_labels_are_marked_and_never_pooled_with_the_others(tmp_path: Path) -> None:
    def run(folder: str, seed: int, acc: float, extras: dict) -> None:
        path = _write_run(tmp_path / folder, seed, "kd", [_row("student", "it", acc)])
        data = json.loads((path / "metrics.json").read_text())
        (path / "metrics.json").write_text(json.dumps({**data, **extras}))

    run("honest", 1, 0.5, {"selection": "teacher_agreement"})
    run("labels", 1, 0.7, {"selection": "target_dev"})
    # Written before the rule was recorded: read from the metric its checkpoint was selected on.
    run("old", 2, 0.9, {"best_val": {"metric": "val/acc", "mode": "max", "score": 0.9}})
    runs = load_runs([tmp_path])
    assert sorted(r.selection for r in runs) == ["target_dev", "target_dev", "teacher_agreement"]
    pooled = pool(runs)
    assert sorted(pooled.names) == ["student", "student [selected on target labels]"]
    assert pooled.cell("student", "it").mean == pytest.approx(0.5)  # type: ignore[union-attr]
    marked = pooled.cell("student [selected on target labels]", "it")
    assert marked is not None and marked.mean == pytest.approx(0.8)


def test_report_pools_calibration_and_the_language_gap(tmp_path: Path) -> None:
    """One run per (language, seed), as the studies make them: the gap is taken across the runs."""
    from distill.report.calibration import language_gap

    rng = np.random.default_rng(3)
    gold = {"it": rng.integers(0, 3, 300), "ja": rng.integers(0, 3, 300)}
    rate = {"it": 0.85, "ja": 0.55}
    correct: dict[str, list[np.ndarray]] = {"it": [], "ja": []}
    for seed in (1, 2):
        for lang in ("it", "ja"):
            hit = rng.random(300) < rate[lang]
            correct[lang].append(hit.astype(float))
            logits = np.eye(3)[np.where(hit, gold[lang], (gold[lang] + 1) % 3)] * 4
            report = MetricsReport(source_lang="en", target_langs=[lang])
            report.add_predictions("student", lang, "test", logits, gold[lang])
            report.extras["run"] = {"seed": seed, "variant": "kd"}
            report.extras["calibration"] = {
                lang: {"temperature": 1.0 + seed, "ece": 0.2, "ece_calibrated": 0.1, "n_fit": 30, "n": 300}
            }
            report.write(tmp_path / "runs" / lang / str(seed))
    out = tmp_path / "out"
    text = write_report([tmp_path / "runs"], out, plots=False).read_text()
    numbers = json.loads((out / "summary.json").read_text())
    (it_row,) = [r for r in numbers["calibration"] if r["lang"] == "it"]
    assert it_row["temperature"] == pytest.approx(2.5) and it_row["seeds"] == 2
    gap = numbers["language_gap"]["student"]
    expected = language_gap({lang: np.stack(arrays) for lang, arrays in correct.items()})
    assert expected is not None and gap["gap"] == pytest.approx(expected["gap"])
    assert gap["best"]["lang"] == "it" and gap["worst"]["lang"] == "ja" and gap["languages"] == 2
    assert gap["low"] > 0.2  # 30 points apart on 2 x 300 examples: the interval excludes 0
    assert "## Calibration per language" in text and "## Worst-language gap" in text


def test_compute_table_sums_each_experiments_stage_times(study: Path) -> None:
    """The report's Compute section: per experiment, runs, how many have times, total and mean
    minutes, the mean of each stage; a run without times counts but does not move the means."""
    from distill.report.tables import compute_markdown

    (study / "kd" / "seed1" / "timings.json").write_text(
        json.dumps({"stage_seconds": {"distill": 240.0, "evaluate": 60.0}})
    )
    (study / "kd" / "seed2" / "metrics.json").write_text(
        json.dumps({**json.loads((study / "kd" / "seed2" / "metrics.json").read_text()), "stage_seconds": {}})
    )
    runs = load_runs([study / "kd"])
    for run in runs:
        run.experiment = "kd_exp"
    table = compute_markdown(runs).splitlines()
    assert table[0] == "| experiment | runs | timed | total min | mean min/run | distill s | evaluate s |"
    # seed1: 300 s (timings.json wins over metrics.json), seed2: untimed, seed3: 60 s (metrics.json).
    assert table[2] == "| `kd_exp` | 3 | 2 | 6.0 | 3.0 | 150 | 30 |"
