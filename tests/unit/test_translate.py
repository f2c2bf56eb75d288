"""Tests for the machine-translation backends in :mod:`distill.data.translate`.

Apertium tests run the real program (marker ``apertium``; skipped only where it is not installed
and not in CI). Error paths of the subprocess handling use a fake ``apertium`` script on ``PATH``,
so they run everywhere. The Marian backend is exercised through ``from_pretrained`` with a tiny,
randomly initialised model and SentencePiece vocabulary built in a fixture.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from distill.data.translate import (
    TRANSLATORS,
    ApertiumTranslator,
    FileTranslator,
    MarianTranslator,
    Translator,
    apertium_package,
    build_translator,
)
from distill.errors import DistillError

# --------------------------------------------------------------------------------------------------
# Shared contract
# --------------------------------------------------------------------------------------------------


class _Upper(Translator):
    """A toy backend that records what reaches it."""

    name = "upper"

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def describe(self) -> str:
        return "upper"

    def _translate(self, texts: list[str]) -> list[str]:
        self.seen.append(texts)
        return [t.upper() for t in texts]


def test_base_skips_empty_inputs_and_strips() -> None:
    t = _Upper()
    assert t.translate(["  a b ", "", "   ", "c"]) == ["A B", "", "", "C"]
    assert t.seen == [["a b", "c"]]
    assert t.translate([]) == []
    assert t.translate(["", " "]) == ["", ""]
    assert len(t.seen) == 1  # nothing non-empty: the backend is not called


def test_base_rejects_a_single_string_and_non_strings() -> None:
    with pytest.raises(TypeError, match="not a single string"):
        _Upper().translate("hello")
    with pytest.raises(TypeError, match="input 1 is int"):
        _Upper().translate(["a", 3])  # type: ignore[list-item]


def test_repr_uses_describe() -> None:
    assert repr(ApertiumTranslator("eng-spa")) == "ApertiumTranslator(apertium:eng-spa)"


# --------------------------------------------------------------------------------------------------
# Apertium: the real program
# --------------------------------------------------------------------------------------------------


@pytest.mark.apertium
def test_apertium_translates_english_to_spanish_without_unknown_marks() -> None:
    out = ApertiumTranslator("eng-spa").translate(["The movie was great.", "Blorfle the zanzibarian."])
    assert len(out) == 2
    assert "película" in out[0]
    assert "*" not in " ".join(out)  # -u: unknown words are not starred
    assert "lorfle" in out[1]  # unknown words pass through


@pytest.mark.apertium
def test_apertium_spanish_to_english() -> None:
    out = ApertiumTranslator("spa-eng").translate(["La película fue genial.", "No me gustó el final."])
    assert "film" in out[0] or "movie" in out[0]
    assert "end" in out[1]


@pytest.mark.apertium
def test_apertium_1000_sentences_in_several_batches_stay_aligned() -> None:
    texts = [f"I have {n} red cars and {n + 1} blue houses." for n in range(0, 2000, 2)]
    out = ApertiumTranslator("eng-spa", batch_size=300).translate(texts)  # 4 calls, the last partial
    assert len(out) == 1000
    for n, text in zip(range(0, 2000, 2), out, strict=True):
        assert f"{n} " in text and f"{n + 1} " in text, text
        assert "coches" in text and "casas" in text, text


@pytest.mark.apertium
def test_apertium_batch_equals_one_by_one_for_fragments() -> None:
    # Without a blank line between sentences Apertium reorders words across lines that lack final
    # punctuation ("The red" / "car is fast"); each fragment must come out as if translated alone.
    fragments = [
        "The red",
        "car is fast",
        "leading space",
        "trailing space",
        "I saw",
        "the man with",
        "a telescope",
    ]
    t = ApertiumTranslator("eng-spa")
    together = t.translate(fragments)
    alone = [t.translate([f])[0] for f in fragments]
    assert together == alone
    assert together[0] == "El rojo"


@pytest.mark.apertium
def test_apertium_multiline_and_odd_inputs_keep_alignment() -> None:
    t = ApertiumTranslator("eng-spa")
    odd = [
        "First line\nsecond line.",
        "Windows\r\nline break.",
        "",
        "Form\ffeed and\u2028separator.",
        "   ",
        "Brackets [x] ^y$ \\z @w <b>bold</b>.",
        "Null\0byte.",
        "The end.",
    ]
    out = t.translate(odd)
    assert len(out) == len(odd)
    assert out[2] == "" and out[4] == ""
    assert out[0] == t.translate(["First line second line."])[0]
    assert out[-1] == t.translate(["The end."])[0] == "El fin."
    assert all("\n" not in o for o in out)


@pytest.mark.apertium
def test_apertium_survives_a_lone_surrogate() -> None:
    out = ApertiumTranslator("eng-spa").translate(["Bad \ud800 char.", "The end."])
    assert len(out) == 2 and out[1] == "El fin."


@pytest.mark.apertium
def test_apertium_pair_not_installed_names_the_package_and_installed_pairs() -> None:
    with pytest.raises(DistillError, match=r"'eng-fra' is not installed") as info:
        ApertiumTranslator("eng-fra").translate(["Hello."])
    assert "eng-spa" in info.value.message  # the installed pairs are listed
    assert info.value.fix is not None and "apertium-eng-fra" in info.value.fix
    with pytest.raises(DistillError, match="sudo apt-get install apertium-isl-eng"):
        ApertiumTranslator("isl-eng").translate(["Hello."])


def test_apertium_missing_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no apertium on PATH
    t = ApertiumTranslator("spa-eng")
    with pytest.raises(DistillError, match="apertium program is not installed") as info:
        t.translate(["Hola."])
    assert info.value.fix == "sudo apt-get install apertium apertium-eng-spa"
    assert t.translate([""]) == [""]  # nothing to translate: no check, no error


def test_apertium_missing_program_via_which(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda *_a, **_k: None)
    with pytest.raises(DistillError, match=r"apt-get install apertium apertium-eng-cat"):
        ApertiumTranslator("eng-cat_valencia").translate(["Hello."])


@pytest.mark.parametrize("pair", ["eng spa", "-l", "eng", "eng-spa; rm -rf /", ""])
def test_apertium_rejects_malformed_pair_names(pair: str) -> None:
    with pytest.raises(DistillError, match="not a language pair name"):
        ApertiumTranslator(pair)


@pytest.mark.parametrize(("option", "value"), [("batch_size", 0), ("timeout", -1.0)])
def test_apertium_rejects_non_positive_options(option: str, value: float) -> None:
    with pytest.raises(DistillError, match=f"{option}=.* must be > 0"):
        ApertiumTranslator("eng-spa", **{option: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pair", "package"),
    [
        ("eng-spa", "apertium-eng-spa"),
        ("spa-eng", "apertium-eng-spa"),
        ("spa-eng_US", "apertium-eng-spa"),
        ("eng-cat_valencia_uni", "apertium-eng-cat"),
        ("isl-eng", "apertium-isl-eng"),
        ("eng-isl", "apertium-isl-eng"),
        ("eng-fra", "apertium-eng-fra"),  # not in Debian: the name it would have
    ],
)
def test_apertium_package_names(pair: str, package: str) -> None:
    assert apertium_package(pair) == package


# --------------------------------------------------------------------------------------------------
# Apertium: subprocess failures, with a fake `apertium` on PATH
# --------------------------------------------------------------------------------------------------


def _fake_apertium(folder: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """Put an ``apertium`` script on PATH that lists eng-spa and otherwise runs ``body``."""
    script = folder / "apertium"
    script.write_text(f'#!/bin/sh\nif [ "$1" = "-l" ]; then echo "  eng-spa"; exit 0; fi\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")


def test_apertium_output_misalignment_is_an_error_naming_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_apertium(tmp_path, monkeypatch, "head -n 3")  # keeps 2 of every batch's sentences
    texts = [f"Sentence {i}." for i in range(5)]
    with pytest.raises(DistillError, match=r"returned 2 sentences for 3 in batch 1/2 \(sentences 0-2\)"):
        ApertiumTranslator("eng-spa", batch_size=3).translate(texts)


def test_apertium_passthrough_fake_keeps_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_apertium(tmp_path, monkeypatch, "cat")
    texts = [f"Sentence {i}\nwrapped." for i in range(7)]
    out = ApertiumTranslator("eng-spa", batch_size=3).translate(texts)
    assert out == [f"Sentence {i} wrapped." for i in range(7)]


def test_apertium_failure_reports_exit_status_and_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_apertium(tmp_path, monkeypatch, "cat >/dev/null; echo 'Error: broken pipe stage' >&2; exit 3")
    with pytest.raises(DistillError, match=r"exit status 3\) on batch 1/1.*broken pipe stage"):
        ApertiumTranslator("eng-spa").translate(["Hello."])


def test_apertium_timeout_kills_the_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_apertium(tmp_path, monkeypatch, "sleep 30 | cat")
    with pytest.raises(DistillError, match=r"longer than 0.5 s on batch 1/1"):
        ApertiumTranslator("eng-spa", timeout=0.5).translate(["Hello."])


# --------------------------------------------------------------------------------------------------
# Translations from a file
# --------------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_file_tsv_hits_ignore_whitespace_differences(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "t.tsv",
        'id\tsrc\ttgt\n1\tThe movie was great.\tLa película fue genial.\n2\tSay "hi"\tDi "hola"\n'
        "3\tThe movie was great.\tOtra traducción.\n",
    )
    t = FileTranslator(path)
    out = t.translate(['Say "hi"', "  The movie\nwas   great. ", ""])
    assert out == ['Di "hola"', "La película fue genial.", ""]
    assert len(t) == 2  # the duplicate source keeps its first translation


def test_file_csv_with_quotes_commas_and_crlf(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "t.csv", 'src,tgt\r\n"Hello, world.","Hola, mundo."\r\n"Two\nlines","Dos líneas"\r\n'
    )
    assert FileTranslator(path).translate(["Hello, world.", "Two lines"]) == ["Hola, mundo.", "Dos líneas"]


def test_file_jsonl_with_custom_columns_and_bom(tmp_path: Path) -> None:
    rows = [{"en": "Good morning.", "es": "Buenos días."}, {"en": "Thanks.", "es": "Gracias."}]
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode())
    t = FileTranslator(path, src_column="es", tgt_column="en")  # the reverse direction
    assert t.translate(["Gracias.", "Buenos días."]) == ["Thanks.", "Good morning."]


def test_file_two_aligned_text_files(tmp_path: Path) -> None:
    src = _write(tmp_path / "train.en", "Hello.\n\nGoodbye.\n")
    tgt = _write(tmp_path / "train.es", "Hola.\n\nAdiós.\n")
    t = FileTranslator(src, target_path=tgt)
    assert t.translate(["Goodbye.", "Hello."]) == ["Adiós.", "Hola."]
    assert t.describe().startswith("file:")


def test_file_misses_name_count_and_first_few(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.tsv", "src\ttgt\nHello.\tHola.\n")
    texts = ["Hello.", *[f"Missing {i}." for i in range(8)], "Missing 0."]
    with pytest.raises(DistillError, match=r"9 of 10 sentences \(8 distinct\) have no translation") as info:
        FileTranslator(path).translate(texts)
    assert "'Missing 0.'; 'Missing 1.'" in info.value.message
    assert "Missing 5." not in info.value.message  # only the first few are shown
    assert str(path) in info.value.message


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("t.tsv", "src\ttgt\nA\tB\nC\tD\textra\n", r"t\.tsv:3: 3 tab-separated fields, the header has 2"),
        ("t.tsv", "source\ttarget\nA\tB\n", r"t\.tsv:1: no column 'src' or 'tgt' in the header"),
        ("t.tsv", "", r"is empty"),
        ("t.tsv", "src\ttgt\nA\t \n", r"t\.tsv:2: empty translation for 'A'"),
        ("t.csv", 'src,tgt\nA,B\n"C" x,D\n', r"t\.csv:3: malformed CSV"),
        ("t.csv", "src,tgt\nA,B,C\n", r"t\.csv:2: 3 fields, the header has 2"),
        ("t.jsonl", '{"src": "A", "tgt": "B"}\n\n{"src": "C", "tgt": \n', r"t\.jsonl:3: not a JSON object"),
        (
            "t.jsonl",
            '{"src": "A", "tgt": "B"}\n["A", "B"]\n',
            r"t\.jsonl:2: expected a JSON object, got list",
        ),
        ("t.jsonl", '{"src": "A"}\n', r"t\.jsonl:1: key 'tgt' is missing"),
        ("t.jsonl", '{"src": "A", "tgt": 3}\n', r"t\.jsonl:1: key 'tgt' is a int, not a string"),
    ],
)
def test_file_malformed_names_file_and_line(tmp_path: Path, name: str, content: str, pattern: str) -> None:
    path = _write(tmp_path / name, content)
    with pytest.raises(DistillError, match=pattern):
        FileTranslator(path).translate(["A"])


def test_file_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_bytes(b"src\ttgt\nA\tB\nC\t\xff\xfe\n")
    with pytest.raises(DistillError, match=r"t\.tsv:3: not valid UTF-8"):
        FileTranslator(path).translate(["A"])


def test_file_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(DistillError, match=r"nope\.tsv does not exist"):
        FileTranslator(tmp_path / "nope.tsv").translate(["A"])
    with pytest.raises(DistillError, match="cannot tell the format"):
        FileTranslator(tmp_path / "t.xlsx")
    with pytest.raises(DistillError, match="unknown translation file format 'xml'"):
        FileTranslator(tmp_path / "t.txt", file_format="xml")


def test_file_unaligned_text_files(tmp_path: Path) -> None:
    src = _write(tmp_path / "a.txt", "A\nB\nC\n")
    tgt = _write(tmp_path / "b.txt", "X\nY\n")
    with pytest.raises(DistillError, match=r"has 3 lines but .*b\.txt has 2"):
        FileTranslator(src, target_path=tgt).translate(["A"])


def test_file_repr_does_not_read_the_file(tmp_path: Path) -> None:
    t = FileTranslator(tmp_path / "later.tsv")  # may not exist yet: only translate() needs it
    assert repr(t) == f"FileTranslator(path={str(tmp_path / 'later.tsv')!r})"


def test_file_describe_changes_with_content(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.tsv", "src\ttgt\nA\tB\n")
    before = FileTranslator(path).describe()
    _write(path, "src\ttgt\nA\tC\n")
    after = FileTranslator(path).describe()
    assert before != after
    assert before.startswith("file:") and before.endswith(":src->tgt")


# --------------------------------------------------------------------------------------------------
# Factory / Hydra
# --------------------------------------------------------------------------------------------------


def test_build_translator_by_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.tsv", "src\ttgt\nA\tB\n")
    t = build_translator("file", path=str(path))
    assert isinstance(t, FileTranslator)
    assert t.translate(["A"]) == ["B"]
    assert set(TRANSLATORS) == {"apertium", "file", "marian"}
    with pytest.raises(DistillError, match="unknown translator backend 'google'"):
        build_translator("google")
    with pytest.raises(DistillError, match="bad options for translator 'apertium'"):
        build_translator("apertium", pair="eng-spa", beam=4)


def test_hydra_instantiate(tmp_path: Path) -> None:
    from hydra.utils import instantiate

    t = instantiate(
        {"_target_": "distill.data.translate.ApertiumTranslator", "pair": "eng-spa", "batch_size": 10}
    )
    assert isinstance(t, ApertiumTranslator)
    assert (t.describe(), t.batch_size) == ("apertium:eng-spa", 10)
    path = _write(tmp_path / "t.tsv", "src\ttgt\nA\tB\n")
    t2 = instantiate(
        {"_target_": "distill.data.translate.build_translator", "backend": "file", "path": str(path)}
    )
    assert t2.translate(["A"]) == ["B"]


# --------------------------------------------------------------------------------------------------
# Marian: a tiny random model through the real from_pretrained code paths
# --------------------------------------------------------------------------------------------------

_SPM_SENTENCES = [
    "The movie was great.",
    "I did not like the ending.",
    "La película fue genial.",
    "No me gustó el final.",
    "What a wonderful day!",
    "¡Qué día tan maravilloso!",
    "The cat sleeps on the mat.",
    "El gato duerme en la alfombra.",
]


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised Marian model with a tiny SentencePiece vocabulary, saved to a folder."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    root = tmp_path_factory.mktemp("marian")
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_SPM_SENTENCES),
        model_prefix=str(root / "sp"),
        vocab_size=60,
        hard_vocab_limit=False,  # a handful of sentences may not support 60 pieces
        character_coverage=1.0,
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        minloglevel=2,
    )
    processor = spm.SentencePieceProcessor(model_file=str(root / "sp.model"))
    # Marian's layout: </s> and <unk> first, the SentencePiece pieces, <pad> last.
    vocab = {"</s>": 0, "<unk>": 1}
    for i in range(processor.get_piece_size()):
        vocab.setdefault(processor.id_to_piece(i), len(vocab))
    vocab["<pad>"] = len(vocab)

    folder = root / "opus-mt-tiny"
    folder.mkdir()
    for name in ("source.spm", "target.spm"):
        shutil.copy(root / "sp.model", folder / name)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    MarianTokenizer(
        source_spm=str(folder / "source.spm"),
        target_spm=str(folder / "target.spm"),
        vocab=str(folder / "vocab.json"),
    ).save_pretrained(folder)
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=vocab["<pad>"],
        eos_token_id=0,
        decoder_start_token_id=vocab["<pad>"],
        forced_eos_token_id=0,
        # With the default 0.02 every input decodes to the same string; larger weights make the
        # output depend on the input, so a mix-up in the order would show.
        init_std=1.0,
    )
    torch.manual_seed(0)
    MarianMTModel(config).save_pretrained(folder)
    return folder


# MarianTokenizer recommends sacremoses (punctuation normalisation for hub models); not needed here.
_NO_SACREMOSES = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")

_MARIAN_INPUTS = [*_SPM_SENTENCES, "", "A", "tiny", "The movie was great. " * 8, "El gato."]


@_NO_SACREMOSES
def test_marian_contract_one_output_per_input_in_order(tiny_marian: Path) -> None:
    t = MarianTranslator(str(tiny_marian), batch_size=4, max_length=12)
    out = t.translate(_MARIAN_INPUTS)
    assert len(out) == len(_MARIAN_INPUTS)
    assert all(isinstance(o, str) for o in out)
    assert out[_MARIAN_INPUTS.index("")] == ""
    assert len(set(out)) >= 5  # outputs depend on the input, so the order checks below mean something
    # One at a time (no padding, no sorting) is the reference for order and batching.
    alone = MarianTranslator(str(tiny_marian), batch_size=1, max_length=12).translate(_MARIAN_INPUTS)
    assert out == alone
    assert t.translate(_MARIAN_INPUTS[::-1]) == out[::-1]


@_NO_SACREMOSES
@pytest.mark.parametrize("batch_size", [3, 64])
def test_marian_batch_sizes_agree_and_are_deterministic(tiny_marian: Path, batch_size: int) -> None:
    reference = MarianTranslator(str(tiny_marian), batch_size=2, max_length=12).translate(_MARIAN_INPUTS)
    t = MarianTranslator(str(tiny_marian), batch_size=batch_size, max_length=12)
    assert t.translate(_MARIAN_INPUTS) == reference
    assert t.translate(_MARIAN_INPUTS) == reference


@_NO_SACREMOSES
def test_marian_beam_search_and_describe(tiny_marian: Path) -> None:
    t = MarianTranslator(str(tiny_marian), max_length=12, num_beams=3)
    out = t.translate(_SPM_SENTENCES[:3])
    assert len(out) == 3 and all(out)
    assert t.describe() == f"marian:{tiny_marian.resolve()}:beams=3:max_length=12"


@_NO_SACREMOSES
def test_marian_relative_folder_is_resolved(tiny_marian: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tiny_marian.parent)
    t = MarianTranslator(tiny_marian.name, max_length=8)
    monkeypatch.chdir("/")  # as Hydra may do before the model is loaded
    assert len(t.translate(["Hello."])) == 1


def test_marian_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    # HF_HUB_OFFLINE=1 (tests/conftest.py): a hub id that is not cached cannot be fetched.
    with pytest.raises(DistillError, match=r"cannot load Marian model 'Helsinki-NLP/opus-mt-en-xx'"):
        MarianTranslator("Helsinki-NLP/opus-mt-en-xx").translate(["Hello."])
    with pytest.raises(DistillError, match="cannot load Marian model"):
        MarianTranslator(str(tmp_path)).translate(["Hello."])  # a folder without a model


def test_marian_bad_device_and_options() -> None:
    with pytest.raises(DistillError, match="unknown device 'tpu9'"):
        MarianTranslator("x", device="tpu9").translate(["Hello."])
    with pytest.raises(DistillError, match="num_beams=0 must be > 0"):
        MarianTranslator("x", num_beams=0)
