"""The chatterbot-corpus source: alignment, leak-free splits, de-duplication, parallel view, errors."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from distill.data.sources import chatterbot as cb
from distill.errors import DistillError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def full() -> dict[str, list[dict[str, str | None]]]:
    """Every language of the installed corpus, as plain rows per split."""
    data = cb.load_chatterbot()
    return {split: data[split].to_list() for split in cb.SPLITS}


def _conversation(row_id: str) -> tuple[str, str]:
    """``"it/emotion/3/1"`` -> ``("emotion", "3")``: the conversation position, the same in every language."""
    _, topic, conv, _ = row_id.split("/")
    return topic, conv


def test_no_test_conversation_or_pair_in_train_or_validation_in_any_language(full: dict) -> None:
    train_like = [row for split in ("train", "validation") for row in full[split]]
    seen_conversations = {_conversation(str(row["id"])) for row in train_like}
    seen_pairs = {row["pair_id"] for row in train_like if row["pair_id"] is not None}
    test = full["test"]
    assert len({row["lang"] for row in test}) >= 20  # the check covers (nearly) every language
    leaked = [row["id"] for row in test if _conversation(str(row["id"])) in seen_conversations]
    assert leaked == []
    assert [row["id"] for row in test if row["pair_id"] in seen_pairs] == []
    # And pair ids never straddle train and validation either.
    train_pairs = {row["pair_id"] for row in full["train"] if row["pair_id"]}
    assert train_pairs.isdisjoint({row["pair_id"] for row in full["validation"] if row["pair_id"]})


def test_no_text_is_in_two_splits_of_one_language(full: dict) -> None:
    texts: dict[tuple[str, str], set[str]] = defaultdict(set)
    keys: dict[tuple[str, str], set[str]] = defaultdict(set)
    for split, rows in full.items():
        for row in rows:
            texts[row["lang"], split].add(row["text"])
            keys[row["lang"], split].add(cb.dedup_key(row["text"]))
    langs = {lang for lang, _ in texts}
    assert len(langs) == 28
    for lang in sorted(langs):
        assert texts[lang, "test"].isdisjoint(texts[lang, "train"]), lang  # verbatim
        assert keys[lang, "test"].isdisjoint(keys[lang, "train"] | keys[lang, "validation"]), lang
        assert keys[lang, "validation"].isdisjoint(keys[lang, "train"]), lang


def test_repeats_are_removed_and_counted() -> None:
    reports = {r.code: r for r in cb.chatterbot_report()}
    en = reports["en"]
    # tech_support is 2,100 utterances with 20 distinct texts: nearly all of it goes.
    assert sum(en.repeats_removed.values()) > 1000
    assert sum(en.cross_split_removed.values()) > 0
    assert en.cross_split_removed["train"] == 0  # the train copy is the one kept
    kept = sum(en.rows.values())
    assert kept + sum(en.repeats_removed.values()) + sum(en.cross_split_removed.values()) == en.utterances
    assert "tech_support" in cb.chatterbot_labels("train")


def test_test_labels_are_train_labels_in_every_language() -> None:
    for code in cb.chatterbot_languages():
        train = set(cb.chatterbot_labels("train", code))
        assert set(cb.chatterbot_labels("test", code)) <= train, code


def test_dedup_key_ignores_case_spacing_and_edge_punctuation() -> None:
    assert cb.dedup_key("  Hello!") == cb.dedup_key("hello") == "hello"
    assert cb.dedup_key("How  are\tyou?") == "how are you"
    assert cb.dedup_key("?") == "?"
    assert cb.dedup_key("?") != cb.dedup_key("!")
    assert cb.dedup_key("नमस्ते") == "नमस्ते"  # combining vowel signs are not punctuation


def test_splits_are_deterministic_within_a_process() -> None:
    first = cb.load_chatterbot(["en", "it"])
    cb._build.cache_clear()
    second = cb.load_chatterbot(["en", "it"])
    for split in cb.SPLITS:
        assert first[split].to_dict() == second[split].to_dict()


def test_splits_do_not_depend_on_the_hash_seed() -> None:
    code = (
        "import hashlib; from distill.data.sources import chatterbot as cb; c = cb._corpus(None); "
        "print(hashlib.sha256(repr(sorted((r.id, r.split) for rows in c.rows.values() for r in rows))"
        ".encode()).hexdigest())"
    )
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_split_fractions_are_seventy_ten_twenty_by_english_conversation(full: dict) -> None:
    # Per topic, 20% of the conversations (rounded half up) go to test and 10% to validation.
    table = cb._stratified_splits("emotion", 48)
    assert (table.count("train"), table.count("validation"), table.count("test")) == (33, 5, 10)
    assert cb._stratified_splits("health", 1) == ["train"]
    assert cb._stratified_splits("emotion", 48) == table
    # Every emotion row at a position English has, in any language, sits in the split of that
    # position (Persian has 114 emotion conversations; the rest fall back to a hash threshold).
    emotion = [
        (split, r["id"], int(_conversation(r["id"])[1]))
        for split, rows in full.items()
        for r in rows
        if r["topic"] == "emotion"
    ]
    assert {r_id.split("/")[0] for _, r_id, _ in emotion} >= {"en", "it", "ja", "ko", "uk", "fa"}
    assert all(split == table[conv] for split, _, conv in emotion if conv < 48)
    assert any(conv >= 48 for _, _, conv in emotion)


def test_known_aligned_pair_shares_pair_id_and_topic() -> None:
    data = cb.load_chatterbot(["en", "it"])
    rows = [row for split in cb.SPLITS for row in data[split].to_list()]
    en = [r for r in rows if r["lang"] == "en" and r["text"] == "You are arrogant"]
    it = [r for r in rows if r["lang"] == "it" and r["text"] == "Sei arrogante"]
    assert len(en) == len(it) == 1
    assert en[0]["pair_id"] == it[0]["pair_id"] == "emotion/0/0"
    assert en[0]["topic"] == it[0]["topic"] == "emotion"
    assert (en[0]["id"], it[0]["id"]) == ("en/emotion/0/0", "it/emotion/0/0")


def test_alignment_report_matches_the_measured_counts() -> None:
    reports = {r.code: r for r in cb.chatterbot_report()}
    assert (reports["it"].aligned_pairs, reports["it"].aligned_topics) == (881, 12)
    assert (reports["ja"].aligned_pairs, reports["ja"].aligned_topics) == (775, 11)
    assert reports["es"].aligned_pairs == 0
    assert reports["en"].parallel is None
    assert cb.chatterbot_report()[0].code == "en"


def test_movies_is_unaligned_for_italian_because_its_counts_differ() -> None:
    data_dir = cb._default_data_dir()
    en = yaml.safe_load((data_dir / "english" / "movies.yml").read_text(encoding="utf-8"))
    it = yaml.safe_load((data_dir / "italian" / "movies.yml").read_text(encoding="utf-8"))
    assert len(en["conversations"]) != len(it["conversations"])  # 23 vs 22 in 1.3.3
    data = cb.load_chatterbot(["it"])
    movies = [r for split in cb.SPLITS for r in data[split].to_list() if r["topic"] == "movies"]
    assert movies
    assert all(r["pair_id"] is None for r in movies)
    assert "movies" not in cb.chatterbot_parallel_labels("it")
    # Japanese movies has 23 conversations of matching lengths, so it is aligned.
    assert "movies" in {r.topic for r in cb._corpus(None).rows["ja"] if r.pair_id}


def test_parallel_view_columns_counts_and_alignment() -> None:
    reports = {r.code: r for r in cb.chatterbot_report()}
    english = cb.load_chatterbot(["en"])
    total = 0
    for split in cb.SPLITS:
        view = cb.chatterbot_parallel("it", split)
        assert view.column_names == list(cb.PARALLEL_COLUMNS)
        parallel = reports["it"].parallel
        assert parallel is not None
        assert len(view) == parallel[split] > 0
        rows = view.to_list()
        assert len({r["id"] for r in rows}) == len(rows)
        by_pair = {r["pair_id"]: r for r in english[split].to_list()}
        for row in rows:
            assert by_pair[row["pair_id"]]["text"] == row["src"]
            assert by_pair[row["pair_id"]]["topic"] == row["label"]
            assert row["id"] == f"it/{row['pair_id']}"
        total += len(view)
    assert 700 <= total <= 881  # aligned pairs minus those whose text was de-duplicated on either side


def test_parallel_view_between_two_target_languages_pivots_on_english() -> None:
    view = cb.chatterbot_parallel("ja", "train", source_lang="it")
    row = next(r for r in view.to_list() if r["pair_id"] == "emotion/0/0")
    assert (row["src"], row["tgt"]) == ("Sei arrogante", "あなたは傲慢です")


def test_parallel_view_errors() -> None:
    with pytest.raises(DistillError, match=r"no aligned en-es pairs.*it, ja"):
        cb.chatterbot_parallel("es", "train")
    with pytest.raises(DistillError, match="both 'en'"):
        cb.chatterbot_parallel("en", "train")
    with pytest.raises(DistillError, match="unknown split 'dev'"):
        cb.chatterbot_parallel("it", "dev")


def test_labels_are_sorted_english_train_topics() -> None:
    labels = cb.chatterbot_labels()
    assert labels == sorted(labels)
    assert {"emotion", "trivia", "ai", "health"} <= set(labels)
    it_labels = cb.chatterbot_parallel_labels("it")
    assert set(it_labels) < set(labels)
    assert "tech_support" not in it_labels


def test_language_codes_and_aliases() -> None:
    codes = cb.chatterbot_languages()
    assert len(codes) == 28
    assert {"en", "it", "ja", "ko", "uk", "zh", "zh-Hant", "hi", "hi-Latn", "fa", "pt", "es"} <= set(codes)
    assert cb.resolve_chatterbot_lang("pt-BR") == "pt"
    assert cb.resolve_chatterbot_lang("zh_hant") == "zh-Hant"
    assert cb.resolve_chatterbot_lang("zh-Hans") == "zh"
    assert cb.resolve_chatterbot_lang("italian") == "it"
    assert cb.resolve_chatterbot_lang("hinglish") == "hi-Latn"


@pytest.mark.parametrize("code", ["pl", "xx", ""])
def test_unknown_language_lists_available_codes(code: str) -> None:
    with pytest.raises(DistillError, match=r"no language .*available codes: bn, de, en, .*zh, zh-Hant"):
        cb.load_chatterbot([code])


def test_load_columns_aligned_only_and_language_subset() -> None:
    data = cb.load_chatterbot(["it", "en", "it"], aligned_only=True)
    assert list(data) == list(cb.SPLITS)
    for split in cb.SPLITS:
        assert data[split].column_names == list(cb.COLUMNS)
        rows = data[split].to_list()
        assert {r["lang"] for r in rows} == {"en", "it"}
        assert all(r["pair_id"] for r in rows)
        assert len({r["id"] for r in rows}) == len(rows)


def test_cli_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert cb.main(["it", "ja"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "al.pairs" in lines[0]
    assert any(line.split()[:1] == ["it"] and "881" in line.split() for line in lines)
    assert cb.main(["xx"]) == 2


def _write_yaml(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_yaml_oddities_are_stringified_flattened_skipped_and_counted(tmp_path: Path) -> None:
    _write_yaml(
        tmp_path / "english" / "greetings.yml",
        "conversations:\n"
        "- - yes\n  - 42\n"  # scalars a typed loader would turn into True and 42
        "- - Hello\n  - - nested\n    - list\n"  # nested list: flattened into three utterances
        "- Q - A\n"  # a bare string conversation: wrapped
        "- - Good\n  - {key: value}\n  -\n",  # a mapping and an empty value: skipped
    )
    _write_yaml(
        tmp_path / "italian" / "greetings.yml",
        "conversations:\n- - sì\n  - 42\n- - Ciao\n  - annidata\n  - lista\n- D - R\n- - Bene\n",
    )
    _write_yaml(tmp_path / "italian" / "sport.yml", "categories: [sport]\nconversations: 3\n")
    reports = {r.code: r for r in cb.chatterbot_report(tmp_path)}
    assert reports["en"].skipped == {
        "bare string conversation wrapped": 1,
        "dict utterance skipped": 1,
        "empty utterance skipped": 1,
        "nested list flattened": 1,
    }
    assert reports["it"].skipped == {
        "bare string conversation wrapped": 1,
        "file without a conversations list": 1,
    }
    assert reports["it"].aligned_pairs == 7  # every conversation has matching lengths
    rows = [r for split in cb.SPLITS for r in cb.load_chatterbot(["en"], data_dir=tmp_path)[split].to_list()]
    assert {r["text"] for r in rows} == {"yes", "42", "Hello", "nested", "list", "Q - A", "Good"}
    assert cb.chatterbot_languages(tmp_path) == ["en", "it"]


def test_missing_package_is_a_distill_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "chatterbot_corpus" else real(name)
    )
    with pytest.raises(DistillError, match=r"pip install chatterbot-corpus==1\.3\.3"):
        cb.chatterbot_languages()


def test_build_is_fast_and_cached() -> None:
    cb._build.cache_clear()
    start = time.perf_counter()
    first = cb._corpus(None)
    assert time.perf_counter() - start < 5.0  # ~0.2 s with the C YAML loader
    assert cb._corpus(None) is first


def test_topics_option_selects_labels() -> None:
    from distill.data.sources.chatterbot import chatterbot_parallel_labels, chatterbot_topics

    assert chatterbot_topics({"topics": "all", "target_langs": ["it"]}) is None
    aligned = chatterbot_topics({"topics": "aligned", "target_langs": ["zh"]})
    # The English sides of the training pairs only; here they already cover every split's topics.
    assert aligned == frozenset(chatterbot_parallel_labels("zh", "train"))
    for lang in ("it", "ja", "ko", "uk", "zh"):
        every = {
            t for split in ("train", "validation", "test") for t in chatterbot_parallel_labels(lang, split)
        }
        assert chatterbot_topics({"topics": "aligned", "target_langs": [lang]}) == every
    assert "trivia" not in aligned
    assert chatterbot_topics({"topics": ["food", "emotion"]}) == {"food", "emotion"}
    with pytest.raises(DistillError, match=r"lacks: \['cooking'\]"):
        chatterbot_topics({"topics": ["food", "cooking"]})
    with pytest.raises(DistillError, match="not all, aligned or a list"):
        chatterbot_topics({"topics": "some"})


def test_common_sources_gives_every_source_the_same_target_rows() -> None:
    """data.common_sources: single-source students of one target train and test on the same rows."""
    from distill.data.sources.chatterbot import chatterbot_side
    from distill.sources.chatterbot import ChatterbotSource

    def rows(src: str, common: list[str]) -> dict[str, list[str]]:
        dd = ChatterbotSource({"source_lang": src, "common_sources": common, "topics": "all"}).parallel("ko")
        return {split: sorted(ds["id"]) for split, ds in dd.items()}

    plain = {src: rows(src, []) for src in ("en", "it", "ja")}
    assert plain["en"]["train"] != plain["ja"]["train"]  # each source has its own subset of ko rows
    common = {src: rows(src, ["en", "it", "ja"]) for src in ("en", "it", "ja")}
    assert common["en"] == common["it"] == common["ja"]
    for split, ids in common["en"].items():
        assert 0 < len(ids) <= min(len(plain[src][split]) for src in plain)
        assert set(ids) == set.intersection(*(set(plain[src][split]) for src in plain))
    # Every kept pair has its utterance in each of the languages.
    dd = ChatterbotSource({"source_lang": "en", "common_sources": ["it", "ja"]}).parallel("ko")
    for lang in ("it", "ja"):
        assert None not in chatterbot_side(lang, "train", dd["train"]["pair_id"])


def test_common_sources_without_shared_pairs_is_a_clear_error() -> None:
    from distill.sources.chatterbot import ChatterbotSource

    # Korean and Portuguese share no training utterance through the English pair ids.
    with pytest.raises(DistillError, match=r"data\.common_sources=\[.pt.\]: no en-ko training pair") as err:
        ChatterbotSource({"source_lang": "en", "common_sources": ["pt"]}).parallel("ko")
    assert "fix:" in str(err.value)
