"""experiments/bench/summary.py: one table of every benchmark's headline, repeated from its results.

The summary measures nothing and computes no new number: every figure of a row must be printed in
that benchmark's own README section, a benchmark without results says so, and printing the table
leaves the README alone.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from tests.scripts import ROOT, load_script

BENCH = ROOT / "experiments" / "bench"
README = BENCH / "README.md"
RESULTS = BENCH / "results"


def _summary() -> ModuleType:
    return load_script("experiments/bench/summary.py", "bench_summary")


def _section(text: str, name: str) -> str:
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    assert begin in text and end in text, name
    return text.split(begin, 1)[1].split(end, 1)[0]


def _committed() -> list[str]:
    """The benchmarks with a committed results file."""
    return [name for name in _summary().EXTRACTORS if (RESULTS / f"{name}.json").is_file()]


@pytest.fixture
def bench_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, Path, Path]:
    """summary.py writing into copies of the README and results/ (never the checkout's)."""
    summary = _summary()
    readme, results = tmp_path / "README.md", tmp_path / "results"
    shutil.copy(README, readme)
    shutil.copytree(RESULTS, results, ignore=shutil.ignore_patterns("summary.json"))
    monkeypatch.setattr(summary._common, "README", readme)
    monkeypatch.setattr(summary._common, "RESULTS", results)
    monkeypatch.setattr(summary._common, "HERE", tmp_path)  # where write_section keeps its lock
    return summary, readme, results


def test_the_rows_follow_the_readme_index() -> None:
    head = README.read_text().split("<!-- bench:", 1)[0]  # the index, before any section
    index = re.findall(r"^\| (\d+) \| `(\w+\.py)` \|", head, re.M)
    assert len(index) == 10
    listed = {(n, script.split()[0]) for n, _, script, _ in _summary().BENCHMARKS}
    assert listed == set(index)


@pytest.mark.parametrize("name", _committed())
def test_each_row_repeats_the_figures_of_its_benchmarks_section(name: str) -> None:
    summary = _summary()
    data = json.loads((RESULTS / f"{name}.json").read_text())
    head = summary.EXTRACTORS[name](data)  # no error on the committed results
    section = _section(README.read_text(), name)
    assert head.figures and summary.DASH not in head.text
    shown = " ".join([head.text, *(t.verdict for t in head.targets)])  # the row's two columns
    for figure in head.figures:
        assert figure in shown
        assert figure in section, (name, figure)  # measured and printed by the benchmark itself
    for target in head.targets:
        assert target.threshold in section, (name, target)  # stated by the benchmark, not invented
        assert target.verdict != summary.DASH
    row = next(r for r in summary.rows() if r["name"] == name)
    assert row["measured"] and row["headline"] == head.text
    assert all(date in section for date in row["date"].split(", "))  # one per task where they differ
    assert row["machine"].split(",")[0] in section  # the CPU of the section's machine line


def test_the_committed_results_give_a_row_for_every_benchmark() -> None:
    summary = _summary()
    rows = summary.rows()
    assert [r["name"] for r in rows] == list(summary.EXTRACTORS)
    for r in rows:
        assert r["measured"] == (RESULTS / f"{r['name']}.json").is_file()
        assert "not understood" not in r["headline"], r
    table = summary.render(rows)
    # The figures themselves come from results/*.json (checked against the README sections above).
    assert re.search(
        r"\| `label_throughput\.py` \| ours / sentence-transformers \d+\.\d\dx; ours / naive \d+\.\d\dx",
        table,
    )
    assert "results/*.json" in table and "not comparable" in table and "summary.py" in table


def test_a_benchmark_without_results_is_not_measured_yet(tmp_path: Path) -> None:
    summary = _summary()
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    (results / "mfu.json").unlink()
    (results / "label_precision.json").unlink(missing_ok=True)
    rows = {r["name"]: r for r in summary.rows(results)}
    for name in ("mfu", "label_precision"):
        assert rows[name]["headline"] == "not measured yet"
        assert not rows[name]["measured"] and not rows[name]["figures"]
        assert rows[name]["date"] == rows[name]["machine"] == summary.DASH
    assert "| 5 | `mfu.py` | not measured yet | – | – | – |" in summary.render(list(rows.values()))
    assert rows["label_throughput"]["measured"]


def test_missing_or_unknown_keys_show_a_dash(tmp_path: Path) -> None:
    summary = _summary()
    for name, extract in summary.EXTRACTORS.items():
        head = extract({})  # every key missing: no error
        assert summary.DASH in head.text, name
        assert all(t.verdict == summary.DASH for t in head.targets), name
    results = tmp_path / "results"
    results.mkdir()
    (results / "mfu.json").write_text(json.dumps({"variants": [{"variant": "fp32"}], "odd": 1}))
    (results / "serve_load.json").write_text("[1, 2]")  # not the shape the extractor reads
    rows = {r["name"]: r for r in summary.rows(results)}
    assert rows["mfu"]["headline"].startswith("fp32 training step MFU –")
    assert rows["serve_load"]["headline"].startswith("– (results/serve_load.json not understood")
    assert rows["serve_load"]["date"] == summary.DASH


def test_print_and_render_leave_the_readme_alone(
    bench_copy: tuple[ModuleType, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    summary, readme, results = bench_copy
    before, checkout_before = readme.read_bytes(), README.read_bytes()
    table = summary.render(summary.rows())
    summary.main(["--print"])
    assert capsys.readouterr().out.strip() == table
    assert readme.read_bytes() == before and README.read_bytes() == checkout_before
    assert not (results / "summary.json").exists()


def test_writing_fills_the_section_after_the_index(bench_copy: tuple[ModuleType, Path, Path]) -> None:
    summary, readme, results = bench_copy
    summary.main([])
    text = readme.read_text()
    table = summary.render(summary.rows())
    assert _section(text, "summary").strip() == table
    # Between the index (and the paragraph under it) and the first benchmark's section.
    assert text.index("| 10 | `label_precision.py` |") < text.index("<!-- bench:summary -->")
    assert text.index("<!-- /bench:summary -->") < text.index("<!-- bench:label_throughput -->")
    saved = json.loads((results / "summary.json").read_text())
    assert [r["name"] for r in saved["rows"]] == list(summary.EXTRACTORS)
    summary.main([])
    assert readme.read_text() == text  # rewriting from the same results changes nothing
