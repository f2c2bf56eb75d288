"""The readers of data=token_files and data=wikiann/conll2003: formats, the validation hold-out,
aligned source words, and bad input (one DistillError naming the file and the line, or the row)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from distill.errors import DistillError
from distill.tasks.token_classification.files import file_token_data, read_tagged, read_words
from distill.tasks.token_classification.hub import hub_token_data

NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
SENTENCES = [
    (["Maria", "lives", "in", "Rome"], ["B-PER", "O", "O", "B-LOC"]),
    (["Anna", "Rossi", "visited", "New", "York"], ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]),
    (["it", "rains"], ["O", "O"]),
    (["Luca", "stays"], ["B-PER", "O"]),
]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _columns(path: Path, sentences: list[tuple[list[str], list[str]]], tagged: bool = True) -> Path:
    lines = ["-DOCSTART- -X- O O", ""]
    for words, tags in sentences:
        lines += [f"{w} {t}" if tagged else w for w, t in zip(words, tags, strict=True)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _files(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Good options of :func:`file_token_data` (English column files, Italian words and test)."""
    it = [(["Maria", "vive", "a", "Roma"], ["B-PER", "O", "O", "B-LOC"]), (["piove"], ["O"])]
    return {
        "target_langs": ["it"],
        "source_train": _columns(tmp_path / "en_train.conll", SENTENCES * 5),
        "source_test": _columns(tmp_path / "en_test.conll", SENTENCES),
        "target_train": {"it": _columns(tmp_path / "it_words.txt", it * 5, tagged=False)},
        "target_test": {"it": _columns(tmp_path / "it_test.conll", it)},
        **overrides,
    }


# --- files: what is read -----------------------------------------------------------------------


def test_column_files_hold_out_a_seeded_validation_share_and_say_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        data = file_token_data(**_files(tmp_path), validation_share=0.25, seed=3)
    assert data.tags == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"] and data.scheme == "bio"
    assert (len(data.source["train"]), len(data.source["validation"])) == (15, 5)
    it = data.data["it"]
    assert {k: len(v) for k, v in it.items()} == {"train": 8, "validation": 2, "test": 2}
    assert it["train"].column_names == ["tokens", "tgt"]  # words only: no tags of the training file
    assert it["test"][0] == {"tokens": ["Maria", "vive", "a", "Roma"], "tags": ["B-PER", "O", "O", "B-LOC"],
                             "tgt": "Maria vive a Roma"}  # fmt: skip
    held = [r.getMessage() for r in caplog.records if "holding out" in r.getMessage()]
    assert len(held) == 2 and "it_words.txt" in held[1] and "2 of 10 sentences" in held[1]
    again = file_token_data(**_files(tmp_path), validation_share=0.25, seed=3)
    assert again.data["it"]["validation"]["tgt"] == it["validation"]["tgt"]  # the seed decides


def test_tables_with_a_column_mapping_and_class_label_ids(tmp_path: Path) -> None:
    rows = [{"words": w, "ner": t} for w, t in SENTENCES]
    jsonl = read_tagged(
        _jsonl(tmp_path / "a.jsonl", rows), scheme="bio", columns={"tokens": "words", "tags": "ner"}
    )
    assert list(zip(jsonl["tokens"], jsonl["tags"], strict=True)) == SENTENCES
    features = Features({"tokens": Sequence(Value("string")), "tags": Sequence(ClassLabel(names=NAMES))})
    ids = [[NAMES.index(t) for t in tags] for _, tags in SENTENCES]
    Dataset.from_dict({"tokens": [w for w, _ in SENTENCES], "tags": ids}, features=features).to_parquet(
        str(tmp_path / "b.parquet")
    )
    assert read_tagged(tmp_path / "b.parquet", scheme="bio")["tags"] == jsonl["tags"]
    csv = tmp_path / "c.csv"
    csv.write_text("tokens,tags\n" + "".join(f"{' '.join(w)},{' '.join(t)}\n" for w, t in SENTENCES))
    assert read_tagged(csv, scheme="bio")["tokens"] == jsonl["tokens"]


def test_conllu_gives_upos_tags_and_forms_as_words(tmp_path: Path) -> None:
    conllu = tmp_path / "it.conllu"
    rows = [("1-2", "della", "_"), ("1", "di", "ADP"), ("2", "la", "DET"), ("3", "casa", "NOUN")]
    conllu.write_text(
        "# text = della casa\n" + "".join(f"{i}\t{f}\t_\t{u}\t_\t_\t_\t_\t_\t_\n" for i, f, u in rows)
    )
    tagged = read_tagged(conllu, scheme="upos")
    assert tagged["tokens"] == [["di", "la", "casa"]] and tagged["tags"] == [["ADP", "DET", "NOUN"]]
    assert read_words(conllu)["tokens"] == [["di", "la", "casa"]]


def test_upos_runs_take_the_tag_set_of_the_source_conllu_in_upos_order(tmp_path: Path) -> None:
    def conllu(name: str, rows: list[tuple[str, str]]) -> Path:
        body = "".join(f"{i}\t{f}\t_\t{u}\t_\t_\t_\t_\t_\t_\n" for i, (f, u) in enumerate(rows, 1))
        (tmp_path / name).write_text((body + "\n") * 4)
        return tmp_path / name

    en = conllu("en.conllu", [("the", "DET"), ("house", "NOUN"), ("stands", "VERB")])
    it = conllu("it.conllu", [("la", "DET"), ("casa", "NOUN")])
    options = {"target_langs": ["it"], "scheme": "upos", "source_train": en, "source_test": en}
    data = file_token_data(**options, target_train={"it": it}, target_test={"it": it})
    assert data.tags == ["DET", "NOUN", "VERB"] and data.data["it"]["train"]["tokens"][0] == ["la", "casa"]
    adj = conllu("it_adj.conllu", [("casa", "NOUN"), ("bella", "ADJ")])
    with pytest.raises(DistillError, match=r"it_adj.conllu line 2: unknown tag 'ADJ' of word 2"):
        file_token_data(**options, target_train={"it": it}, target_test={"it": adj})


def test_parallel_mode_reads_the_aligned_source_words(tmp_path: Path) -> None:
    en = _columns(
        tmp_path / "en_side.txt", [(["Maria", "lives", "in", "Rome"], ["O"] * 4), (["rain"], ["O"])] * 5
    )
    data = file_token_data(**_files(tmp_path), aligned_source={"it": en}, mode="parallel")
    it = data.data["it"]
    assert len(it["train"]) + len(it["validation"]) == 10
    for split in ("train", "validation"):  # the pairs stay together through the hold-out
        for row in it[split]:
            assert (row["tgt"], row["src"]) in {
                ("Maria vive a Roma", "Maria lives in Rome"),
                ("piove", "rain"),
            }
    short = _columns(tmp_path / "short.txt", [(["rain"], ["O"])])
    with pytest.raises(DistillError, match=r"short.txt has 1 sentences but .*it_words.txt has 10"):
        file_token_data(**_files(tmp_path), aligned_source={"it": short}, mode="parallel")


# --- files: bad input ----------------------------------------------------------------------------


def test_tags_column_of_another_length_names_the_line(tmp_path: Path) -> None:
    bad = _jsonl(
        tmp_path / "bad.jsonl", [{"tokens": ["a"], "tags": ["O"]}, {"tokens": ["b", "c"], "tags": ["O"]}]
    )
    with pytest.raises(DistillError, match=rf"{bad} line 2: 2 words but 1 tags") as err:
        file_token_data(**_files(tmp_path, source_train=bad))
    assert err.value.fix and "one tag a word" in err.value.fix


def test_unknown_tag_in_a_target_test_file_names_file_and_line(tmp_path: Path) -> None:
    test = tmp_path / "it_orgs.conll"
    test.write_text("Fiat B-ORG\nchiude O\n")
    with pytest.raises(DistillError, match=rf"{test} line 1: unknown tag 'B-ORG' of word 1 \('Fiat'\)"):
        file_token_data(**_files(tmp_path, target_test={"it": test}))


def test_a_sentence_with_no_words_is_refused(tmp_path: Path) -> None:
    rows = [{"tokens": ["a"], "tags": ["O"]}, {"tokens": [], "tags": []}]
    empty = _jsonl(tmp_path / "empty.jsonl", rows)
    with pytest.raises(DistillError, match=rf"{empty} line 2: a sentence with no words"):
        read_tagged(empty, scheme="bio")
    with pytest.raises(DistillError, match=rf"{empty} line 2: a sentence with no words"):
        read_words(empty)


def test_bioes_tags_are_not_bio(tmp_path: Path) -> None:
    bioes = tmp_path / "bioes.conll"
    bioes.write_text("Maria S-PER\nvive O\n\nAnna B-PER\nRossi E-PER\n")
    with pytest.raises(DistillError, match=rf"{bioes} line 1: tag 'S-PER' .* is not BIO") as err:
        file_token_data(**_files(tmp_path, source_train=bioes))
    assert err.value.fix and "BIOES" in err.value.fix


def test_a_missing_file_is_named_with_its_key(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conll"
    with pytest.raises(DistillError, match=rf"data.target_test.it file {missing}: no such file"):
        file_token_data(**_files(tmp_path, target_test={"it": missing}))
    with pytest.raises(DistillError, match=r"data.target_test has no file for 'it'") as err:
        file_token_data(**_files(tmp_path, target_test={}))
    assert err.value.fix == "set data.target_test.it=<file>"


def test_a_mapping_to_a_column_the_table_lacks(tmp_path: Path) -> None:
    table = _jsonl(tmp_path / "t.jsonl", [{"words": ["a"], "ner": ["O"]}])
    with pytest.raises(
        DistillError, match=r"t.jsonl has no column 'labels' \(data.columns.tags=labels\)"
    ) as err:
        read_tagged(table, scheme="bio", columns={"tokens": "words", "tags": "labels"})
    assert "['words', 'ner']" in str(err.value) and err.value.fix and "data.columns.tags=" in err.value.fix


# --- hub datasets ------------------------------------------------------------------------------


def _saved(folder: Path, names: list[str], sentences: list[tuple[list[str], list[str]]]) -> None:
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=names))})
    ds = Dataset.from_dict(
        {
            "tokens": [w for w, _ in sentences],
            "ner_tags": [[names.index(t) for t in g] for _, g in sentences],
        },
        features=features,
    )
    DatasetDict({s: ds for s in ("train", "validation", "test")}).save_to_disk(str(folder))


def test_hub_tags_come_as_class_label_names_and_target_words_only(tmp_path: Path) -> None:
    _saved(tmp_path / "en", NAMES, [(["-DOCSTART-"], ["O"]), *SENTENCES])
    _saved(tmp_path / "it", NAMES, SENTENCES[:2])
    data = hub_token_data(str(tmp_path / "{lang}"), ["it"], name="{lang}")
    assert data.tags == NAMES and data.source_lang == "en"
    assert list(zip(data.source["test"]["tokens"], data.source["test"]["tags"], strict=True)) == SENTENCES
    assert data.data["it"]["train"].column_names == ["tokens", "tgt"]
    assert data.data["it"]["test"]["tags"] == [t for _, t in SENTENCES[:2]]


def test_hub_target_test_tag_outside_the_source_tags_names_the_row(tmp_path: Path) -> None:
    _saved(tmp_path / "en", NAMES, SENTENCES)
    _saved(tmp_path / "it", [*NAMES, "B-ORG"], [SENTENCES[0], (["Fiat"], ["B-ORG"])])
    with pytest.raises(DistillError, match=r"it\[it/test\] row 2: unknown tag 'B-ORG'"):
        hub_token_data(str(tmp_path / "{lang}"), ["it"], name="{lang}")


def test_hub_data_refuse_parallel_mode_and_missing_columns(tmp_path: Path) -> None:
    _saved(tmp_path / "en", NAMES, SENTENCES)
    with pytest.raises(DistillError, match="no word-aligned pairs: mode=parallel") as err:
        hub_token_data(str(tmp_path / "{lang}"), ["en"], mode="parallel")
    assert err.value.fix and "mode=direct" in err.value.fix
    with pytest.raises(DistillError, match=r"no column 'pos_tags'; its columns are \['tokens', 'ner_tags'\]"):
        hub_token_data(str(tmp_path / "{lang}"), ["en"], tags="pos_tags")
