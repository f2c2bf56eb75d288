"""Token-level corpora: CoNLL-U and column files, bad input named by file and line, seqeval metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill.data.files.conll import read_columns, read_conllu
from distill.data.tags import bio_tagset, check_tags
from distill.errors import DistillError
from distill.tasks.token_classification.metrics import token_metrics

CONLLU = (
    "# sent_id = 1\n"
    "# text = Vou ao mercado.\n"
    "1\tVou\tir\tVERB\t_\t_\t0\troot\t_\t_\n"
    "2-3\tao\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\ta\ta\tADP\t_\t_\t4\tcase\t_\t_\n"
    "3\to\to\tDET\t_\t_\t4\tdet\t_\t_\n"
    "4\tmercado\tmercado\tNOUN\t_\t_\t1\tobl\t_\tSpaceAfter=No\n"
    "4.1\t_\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "5\t.\t.\tPUNCT\t_\t_\t1\tpunct\t_\t_\n"
    "\n"
    "1\tSim\tsim\tINTJ\t_\t_\t0\troot\t_\t_\n"
)
IOB = "-DOCSTART- O\n\n山田\t名詞\tB-PSN\n太郎\t名詞\tI-PSN\nは\t助詞\tO\n\n東京\t名詞\tB-LOC\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conllu_gives_the_syntactic_words_and_their_upos(tmp_path: Path) -> None:
    ds = read_conllu(_write(tmp_path, "pt.conllu", CONLLU))
    assert ds["tokens"] == [["Vou", "a", "o", "mercado", "."], ["Sim"]]
    assert ds["tags"] == [["VERB", "ADP", "DET", "NOUN", "PUNCT"], ["INTJ"]]
    assert list(ds["id"]) == ["pt.conllu:3", "pt.conllu:11"]
    # another field is no UPOS tag set: refused unless a tag set is given
    with pytest.raises(DistillError, match=r"pt.conllu line 3: tag 'ir' .* not a Universal POS tag"):
        read_conllu(tmp_path / "pt.conllu", field="lemma")
    lemmas = read_conllu(
        tmp_path / "pt.conllu", field="lemma", tagset=["ir", "a", "o", "mercado", ".", "sim"]
    )
    assert lemmas["tags"][0] == ["ir", "a", "o", "mercado", "."]


def test_column_files_give_words_and_bio_tags(tmp_path: Path) -> None:
    ds = read_columns(_write(tmp_path, "ja.txt", IOB), scheme="bio")
    assert ds["tokens"] == [["山田", "太郎", "は"], ["東京"]]
    assert ds["tags"] == [["B-PSN", "I-PSN", "O"], ["B-LOC"]]


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("Maria\tB-PER\nvive\tO\nRoma\tS-LOC\n", "line 3", "is not BIO"),
        ("Maria\tB-PER\nvive\n", "line 2", "has one column"),
        ("Maria\tB-PER\nRoma\tB-CITY\n", "line 2", "unknown tag 'B-CITY'"),
    ],
)
def test_bad_column_files_name_the_file_and_line(tmp_path: Path, text: str, where: str, what: str) -> None:
    path = _write(tmp_path, "bad.txt", text)
    with pytest.raises(DistillError, match=what) as err:
        read_columns(path, tagset=bio_tagset(["PER", "LOC"]))
    assert f"{path} {where}" in str(err.value) and "fix:" in str(err.value)


def test_bad_conllu_and_bad_rows_are_refused_with_their_place(tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.conllu", "1\tVou\tir\tVERB\t_\n")
    with pytest.raises(DistillError, match=rf"{bad} line 1: 5 tab-separated fields"):
        read_conllu(bad)
    with pytest.raises(DistillError, match="no sentences"):
        read_conllu(_write(tmp_path, "empty.conllu", "# nothing\n\n"))
    with pytest.raises(DistillError, match=r"rows\.jsonl line 4: 3 words but 2 tags"):
        check_tags(["a", "b", "c"], ["O", "O"], "bio", where="rows.jsonl line 4")
    with pytest.raises(DistillError, match=r"rows\.jsonl line 5: a sentence with no words"):
        check_tags([], [], "bio", where="rows.jsonl line 5")
    with pytest.raises(DistillError, match="tag scheme"):
        check_tags(["a"], ["O"], "bioes", where="x")


def test_metrics_are_seqeval_entity_f1_per_type_and_token_accuracy() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    m = token_metrics(gold, pred, "bio")
    assert m["token_accuracy"] == pytest.approx(5 / 6) and m["n_words"] == 6 and m["n"] == 2
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["per_type"]["PER"]["f1"] == 1.0 and m["per_type"]["LOC"]["recall"] == 0.0
    assert m["per_type"]["ORG"]["precision"] == 0.5 and m["per_type"]["ORG"]["support"] == 1
    pos = token_metrics([["NOUN", "VERB"]], [["NOUN", "NOUN"]], "upos")
    assert pos["token_accuracy"] == 0.5 and "f1" not in pos
