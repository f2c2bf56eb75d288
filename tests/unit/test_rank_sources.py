"""distill-rank-sources: URIEL similarities offline, the ranking on tiny data, its JSON, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from distill.rank_sources import main, read_ranking, similarity_weights, uriel_similarity

TINY = ["--student", "tiny"]


def test_uriel_vectors_are_read_offline_from_the_lang2vec_wheel() -> None:
    ko_ja, ko_en = uriel_similarity("ko", "ja"), uriel_similarity("ko", "en")
    assert set(ko_ja) == {"syntax_knn", "phonology_knn", "inventory_knn", "fam", "geo"}
    assert np.mean(list(ko_ja.values())) > np.mean(list(ko_en.values()))  # Korean is closer to Japanese
    assert uriel_similarity("it", "it")["syntax_knn"] == pytest.approx(1.0)


def test_ranking_on_tiny_files_and_its_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    es = ["hola amigo", "me gusta el cine", "la película es buena"]
    files = {
        "es": es,
        "pt": ["olá amigo", "eu gosto do cinema", "o filme é bom"],
        "ja": ["こんにちは", "映画が好きです", "その映画は良い"],
    }
    args = []
    for lang, lines in files.items():
        (tmp_path / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        args.append(f"{lang}={tmp_path / f'{lang}.txt'}")
    out = tmp_path / "ranking.json"
    assert (
        main(["--target", "es", "--candidates", "ja", "pt", *TINY, "--text", *args, "--out", str(out)]) == 0
    )
    table = capsys.readouterr().out
    assert "| 1 | pt |" in table and "| 2 | ja |" in table  # Portuguese shares subwords and typology
    raw = json.loads(out.read_text())
    assert (
        raw["format"] == 1
        and raw["target"] == "es"
        and raw["signals"] == ["typology", "overlap", "embedding"]
    )
    first = raw["candidates"][0]
    assert {
        "lang",
        "score",
        "rank",
        "typology",
        "typology_sets",
        "overlap",
        "overlap_jaccard",
        "embedding",
        "pairs",
    } <= set(first)
    assert [c["rank"] for c in raw["candidates"]] == [1, 2] and first["pairs"] == 3
    # The JSON feeds combine=similarity.
    scores = read_ranking(out, "es").scores()
    w = similarity_weights(scores, ["ja", "pt"], temperature=0.1)
    assert w[1] > w[0] and w.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "ko", "--candidates", "xx"], "--candidates: 'xx' is not an ISO 639 language code"),
        (["--target", "ko", "--candidates", "sw"], "chatterbot-corpus has no language 'sw'"),
        (["--target", "ko", "--candidates", "es"], "no aligned es-ko sentence pairs"),
        (["--target", "ko", "--candidates", "ko"], "include the target"),
        (["--target", "ko", "--candidates", "en", "--text", "ko=/nonexistent.txt", "en=/x"], "no such file"),
    ],
)
def test_bad_input_gives_one_error_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, *TINY, "--max-pairs", "8"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(err) == 1 and message in err[0] and "fix:" in err[0]
