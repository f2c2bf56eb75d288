"""Machine-translation backends for translate-test (target -> English for the teacher) and
translate-train (English -> target for the student).

Every backend implements :class:`Translator`: ``translate(texts)`` returns exactly one string per
input, in input order, and ``describe()`` returns a stable string that goes into cache keys (it
changes whenever the output could change). Backends are plain classes with keyword arguments, so a
Hydra config can build one directly::

    translator:
      _target_: distill.data.translate.ApertiumTranslator
      pair: eng-spa

or by name through :func:`build_translator` (``_target_: distill.data.translate.build_translator``
with ``backend: apertium``).

Backends:

* :class:`ApertiumTranslator` -- Debian's rule-based MT (``apertium``), run as a subprocess; no
  model download, works offline.
* :class:`FileTranslator` -- translations the user already has (TSV, CSV, JSONL or two aligned
  plain-text files).
* :class:`MarianTranslator` -- a Hugging Face ``MarianMTModel`` (a hub id such as
  ``Helsinki-NLP/opus-mt-en-es`` when online, or a local folder).

Shared contract (enforced in :meth:`Translator.translate`): an empty or whitespace-only input
translates to ``""`` without reaching the backend, because MT systems hallucinate on empty input.
"""

from __future__ import annotations

import abc
import contextlib
import csv
import io
import json
import logging
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from distill.errors import DistillError
from distill.utils.hashing import file_sha256

log = logging.getLogger(__name__)

__all__ = [
    "TRANSLATORS",
    "ApertiumTranslator",
    "FileTranslator",
    "MarianTranslator",
    "Translator",
    "apertium_package",
    "build_translator",
]

# How many inputs an error message shows, and how much of each.
_SHOW = 5
_SHOW_CHARS = 80


def _short(text: str) -> str:
    """``repr`` of ``text`` cut to a readable length for error messages."""
    return repr(text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "...")


def _batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` index ranges that cover ``range(n)`` in chunks of ``size``."""
    for start in range(0, n, size):
        yield start, min(start + size, n)


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise DistillError(
            f"translator option {name}={value!r} must be > 0", fix=f"set {name} to a positive number"
        )


class Translator(abc.ABC):
    """A machine-translation backend.

    Subclasses implement :meth:`_translate` (called only with non-empty, stripped strings) and
    :meth:`describe`; they may override :meth:`check` to fail early on a broken setup.
    """

    #: Short backend name (``apertium``, ``file``, ``marian``), also the key in :data:`TRANSLATORS`.
    name: ClassVar[str]

    @abc.abstractmethod
    def describe(self) -> str:
        """A stable one-line description used in cache keys and logs.

        It includes everything that can change the output (pair, file content hash, model and
        decoding options) and nothing that cannot (batch size, device, timeouts).
        """

    def check(self) -> None:  # noqa: B027 -- optional hook, a no-op unless a backend has something to check
        """Raise :class:`DistillError` now if the backend cannot run (called by :meth:`translate`)."""

    @abc.abstractmethod
    def _translate(self, texts: list[str]) -> list[str]:
        """Translate non-empty, stripped strings; return one string per input, in order."""

    def translate(self, texts: Sequence[str]) -> list[str]:
        """Translate ``texts``; one output string per input, in input order.

        Args:
            texts: The sentences. Empty or whitespace-only entries come back as ``""``.

        Returns:
            The translations, aligned with ``texts``.

        Raises:
            DistillError: The backend is not set up, or it failed on some input.
            TypeError: ``texts`` is a single string or holds a non-string (a programming error).
        """
        if isinstance(texts, str):
            # Iterating a str would "translate" it character by character.
            raise TypeError("translate() takes a sequence of strings, not a single string")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"translate() input {i} is {type(text).__name__}, not str")
        out = [""] * len(texts)
        todo = [i for i, text in enumerate(texts) if text.strip()]
        if not todo:
            return out
        self.check()
        done = self._translate([texts[i].strip() for i in todo])
        if len(done) != len(todo):
            raise DistillError(
                f"translator {self.describe()} returned {len(done)} translations for {len(todo)} sentences",
                fix="every sentence needs exactly one translation, in order; check the backend's output",
            )
        for i, text in zip(todo, done, strict=True):
            out[i] = text
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


# --------------------------------------------------------------------------------------------------
# Apertium
# --------------------------------------------------------------------------------------------------

# Debian 12's packages of Apertium language pairs (Ubuntu 24.04 has the same). A package provides both
# directions and usually some variants (``spa-eng`` and ``spa-eng_US`` come with apertium-eng-spa),
# and its name does not follow one order (apertium-eng-spa but apertium-isl-eng), hence the table.
_DEBIAN_PAIR_PACKAGES = frozenset(
    {
        "apertium-afr-nld", "apertium-arg-cat", "apertium-bel-rus", "apertium-br-fr", "apertium-cat-ita",
        "apertium-cat-srd", "apertium-dan-nor", "apertium-en-gl", "apertium-eng-cat", "apertium-eng-spa",
        "apertium-eo-ca", "apertium-eo-en", "apertium-eo-es", "apertium-eo-fr", "apertium-es-gl",
        "apertium-es-pt", "apertium-es-ro", "apertium-eu-en", "apertium-eu-es", "apertium-fr-es",
        "apertium-fra-cat", "apertium-fra-frp", "apertium-hbs-eng", "apertium-hbs-mkd", "apertium-hbs-slv",
        "apertium-ind-zlm", "apertium-isl-eng", "apertium-isl-swe", "apertium-mkd-bul", "apertium-mkd-eng",
        "apertium-nno-nob", "apertium-oc-ca", "apertium-oc-es", "apertium-oci-fra", "apertium-pol-szl",
        "apertium-por-cat", "apertium-pt-ca", "apertium-pt-gl", "apertium-rus-ukr", "apertium-spa-arg",
        "apertium-spa-ast", "apertium-spa-cat", "apertium-spa-ita", "apertium-srd-ita", "apertium-swe-dan",
        "apertium-swe-nor", "apertium-urd-hin",
    }
)  # fmt: skip

# A mode name: two language codes, each optionally with a variant (eng-cat_valencia, spa-eng_US).
# Checked before it reaches the command line so that a pair can never be read as an option.
_PAIR_RE = re.compile(r"^[a-z]{2,3}(?:_[A-Za-z0-9_]+)?-[a-z]{2,3}(?:_[A-Za-z0-9_]+)?$")

# Everything str.splitlines() treats as a line boundary. One sentence must stay on one line.
_LINE_BREAKS_RE = re.compile(r"[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")

# Sentences are separated by a blank line, not a single newline: Apertium's text format treats a
# single newline as ordinary whitespace, so its transfer rules reorder words across lines that lack
# final punctuation ("The red" / "car is fast" came out as "El coche" / "rojo es rápido"). A blank
# line is a paragraph break, which ends a sentence, so each line is translated exactly as if alone.
_SEPARATOR = "\n\n"


def apertium_package(pair: str) -> str:
    """The Debian package that provides the Apertium mode ``pair``.

    Args:
        pair: A mode such as ``eng-spa``, ``spa-eng`` or ``eng-cat_valencia``.

    Returns:
        E.g. ``apertium-eng-spa`` for both ``eng-spa`` and ``spa-eng``; for a pair Debian does not
        package, the ``apertium-<src>-<tgt>`` name it would have.
    """
    src, _, tgt = pair.partition("-")
    src, tgt = src.split("_")[0], tgt.split("_")[0]
    for name in (f"apertium-{src}-{tgt}", f"apertium-{tgt}-{src}"):
        if name in _DEBIAN_PAIR_PACKAGES:
            return name
    return f"apertium-{src}-{tgt}"


class ApertiumTranslator(Translator):
    """Rule-based translation with Apertium (``apertium -u <pair>``), run as a subprocess.

    Many sentences go through one process call: starting the ~10-stage pipeline (each stage loads
    its dictionaries) costs 0.1-1 s, so large batches are much faster (~2,500 sentences/s at 5,000
    per call on one idle 2-core machine, against ~1,000 at 500 per call).
    Newlines inside a sentence are replaced by spaces so that output lines stay aligned with input
    sentences; a batch whose output has a different number of sentences is an error.

    Args:
        pair: The Apertium mode, e.g. ``eng-spa`` (English -> Spanish) or ``spa-eng``; ``apertium -l``
            lists the installed ones.
        batch_size: Sentences per process call.
        timeout: Seconds one batch may take before it is killed.
    """

    name = "apertium"

    def __init__(self, pair: str, batch_size: int = 5000, timeout: float = 600.0) -> None:
        if not _PAIR_RE.match(pair):
            raise DistillError(
                f"Apertium pair {pair!r} is not a language pair name",
                fix="use a mode such as eng-spa or spa-eng (apertium -l lists the installed ones)",
            )
        _positive("batch_size", batch_size)
        _positive("timeout", timeout)
        self.pair = pair
        self.batch_size = int(batch_size)
        self.timeout = float(timeout)
        self._program: str | None = None

    def describe(self) -> str:
        """E.g. ``apertium:eng-spa``."""
        return f"apertium:{self.pair}"

    @property
    def package(self) -> str:
        """The Debian package that provides :attr:`pair`."""
        return apertium_package(self.pair)

    def check(self) -> None:
        """Verify that ``apertium`` is on ``PATH`` and :attr:`pair` is installed.

        Raises:
            DistillError: Naming the ``apt-get install`` command that fixes it.
        """
        if self._program is not None:
            return
        program = shutil.which("apertium")
        if program is None:
            raise DistillError(
                "the apertium program is not installed (not found on PATH)",
                fix=f"sudo apt-get install apertium {self.package}",
            )
        pairs = self._installed_pairs(program)
        if self.pair not in pairs:
            raise DistillError(
                f"Apertium language pair {self.pair!r} is not installed "
                f"(installed: {', '.join(pairs) if pairs else 'none'})",
                fix=self._install_hint(),
            )
        self._program = program

    def _install_hint(self) -> str:
        package = self.package
        if package in _DEBIAN_PAIR_PACKAGES:
            return f"sudo apt-get install {package}"
        return (
            f"sudo apt-get install {package} if your distribution packages it (Debian does not; "
            "apt-cache search apertium lists the pairs it has), or build the pair from Apertium's sources"
        )

    def _installed_pairs(self, program: str) -> list[str]:
        try:
            proc = subprocess.run([program, "-l"], capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DistillError(
                f"could not run {program} -l: {exc}", fix="check the apertium installation"
            ) from exc
        # `apertium -l` prints one mode per line; with no modes it prints the unexpanded glob.
        return sorted(p for p in proc.stdout.split() if _PAIR_RE.match(p))

    def _translate(self, texts: list[str]) -> list[str]:
        texts = [_LINE_BREAKS_RE.sub(" ", t).replace("\0", "") for t in texts]
        out: list[str] = []
        n_batches = (len(texts) + self.batch_size - 1) // self.batch_size
        for k, (start, stop) in enumerate(_batches(len(texts), self.batch_size), 1):
            where = f"batch {k}/{n_batches} (sentences {start}-{stop - 1})"
            out.extend(self._run_batch(texts[start:stop], where))
        return out

    def _run_batch(self, texts: list[str], where: str) -> list[str]:
        assert self._program is not None  # set by check()
        stdout = self._run([self._program, "-u", self.pair], _SEPARATOR.join(texts) + "\n", where)
        pieces = stdout.rstrip("\n").split(_SEPARATOR)
        if len(pieces) != len(texts):
            raise DistillError(
                f"apertium {self.pair} returned {len(pieces)} sentences for {len(texts)} in {where}; "
                "output and input are no longer aligned",
                fix="look for unusual characters in that batch, or lower batch_size to narrow it down",
            )
        # A dropped word (e.g. the subject pronoun "I") can leave a leading space.
        return [p.strip() for p in pieces]

    def _run(self, argv: list[str], text: str, where: str) -> str:
        # A session of its own: `apertium` is a shell script whose pipeline stages are its children,
        # and on a timeout the whole group must go, not only the script.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            # "replace": a lone surrogate (from badly decoded input) becomes "?" instead of failing.
            stdout, stderr = proc.communicate(text.encode("utf-8", "replace"), timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise DistillError(
                f"apertium {self.pair} took longer than {self.timeout:g} s on {where}",
                fix="raise timeout or lower batch_size",
            ) from exc
        if proc.returncode != 0:
            message = stderr.decode("utf-8", "replace").strip()[-500:]
            raise DistillError(
                f"apertium {self.pair} failed (exit status {proc.returncode}) on {where}: {message}",
                fix="run the same text through `apertium -u " + self.pair + "` by hand to see the problem",
            )
        # "replace": one odd byte from a pipeline stage should cost a character, not the run.
        return stdout.decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------------
# Translations from a file
# --------------------------------------------------------------------------------------------------

_FORMATS = {".tsv": "tsv", ".tab": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _key(text: str) -> str:
    """Lookup key: whitespace runs collapsed, so line breaks and double spaces do not cause misses."""
    return " ".join(text.split())


def _read_text(path: Path) -> str:
    """Read ``path`` as UTF-8 (a leading BOM is dropped); decoding errors name the line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DistillError(f"translation file {path} does not exist", fix="check the path") from exc
    except OSError as exc:
        raise DistillError(
            f"cannot read translation file {path}: {exc}", fix="check the path and its permissions"
        ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DistillError(
            f"{path}:{line}: not valid UTF-8 ({exc.reason})", fix="save the file as UTF-8"
        ) from exc


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)``; only ``\\n`` ends a line (a CR before it is dropped)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        yield number, line[:-1] if line.endswith("\r") else line


class FileTranslator(Translator):
    """Translations the user already has, looked up by source sentence.

    Formats, chosen by suffix (or ``file_format``):

    * ``.tsv``/``.tab``: a header line naming the columns, then one tab-separated row per line
      (no quoting; quotes are part of the text).
    * ``.csv``: RFC 4180 CSV with a header row.
    * ``.jsonl``/``.ndjson``: one JSON object per line.
    * two aligned plain-text files: ``path`` holds source sentences and ``target_path`` their
      translations, line by line.

    Lookups ignore differences in whitespace (runs of spaces, line breaks, surrounding space). When
    a source sentence appears more than once with different translations, the first one is used.

    Args:
        path: The translation table, or the source side of two aligned plain-text files.
        target_path: The target side of two aligned plain-text files.
        src_column: Column (key) with the source sentences.
        tgt_column: Column (key) with their translations.
        file_format: ``tsv``, ``csv`` or ``jsonl``; by default taken from the suffix (``text``
            when ``target_path`` is given).
    """

    name = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        target_path: str | os.PathLike[str] | None = None,
        src_column: str = "src",
        tgt_column: str = "tgt",
        file_format: str | None = None,
    ) -> None:
        # Resolved now: Hydra may change the working directory before the file is read.
        self.path = Path(path).expanduser().resolve()
        self.target_path = None if target_path is None else Path(target_path).expanduser().resolve()
        self.src_column = src_column
        self.tgt_column = tgt_column
        self.format = self._pick_format(file_format)
        self._table: dict[str, str] | None = None
        self._describe: str | None = None

    def _pick_format(self, file_format: str | None) -> str:
        if self.target_path is not None:
            if file_format not in (None, "text"):
                raise DistillError(
                    f"target_path is given, so {self.path} must be plain text, not file_format={file_format}"
                )
            return "text"
        if file_format is not None:
            if file_format not in ("tsv", "csv", "jsonl"):
                raise DistillError(
                    f"unknown translation file format {file_format!r}", fix="use tsv, csv or jsonl"
                )
            return file_format
        found = _FORMATS.get(self.path.suffix.lower())
        if found is None:
            raise DistillError(
                f"cannot tell the format of translation file {self.path} from its suffix",
                fix="name it .tsv, .csv or .jsonl (or set file_format=), or give target_path for two aligned "
                "plain-text files",
            )
        return found

    def describe(self) -> str:
        """E.g. ``file:<sha256 of the file(s), 16 hex digits>:src->tgt``: edits to the file change it.

        The hash is computed once per instance, like the table, which is also read only once.
        """
        if self._describe is None:
            self._check_exists()
            digest = file_sha256(self.path)[:16]
            if self.target_path is not None:
                digest += "+" + file_sha256(self.target_path)[:16]
            columns = "" if self.format == "text" else f":{self.src_column}->{self.tgt_column}"
            self._describe = f"file:{digest}{columns}"
        return self._describe

    def __repr__(self) -> str:
        # Not describe(): a repr must not read (or fail on) the file.
        target = "" if self.target_path is None else f", target_path={str(self.target_path)!r}"
        return f"FileTranslator(path={str(self.path)!r}{target})"

    def _check_exists(self) -> None:
        for p in (self.path, self.target_path):
            if p is not None and not p.is_file():
                raise DistillError(f"translation file {p} does not exist", fix="check the path")

    def check(self) -> None:
        """Read and validate the file(s) (once)."""
        if self._table is None:
            self._table = self._load()

    def __len__(self) -> int:
        """Number of distinct source sentences in the file(s)."""
        self.check()
        assert self._table is not None
        return len(self._table)

    def _load(self) -> dict[str, str]:
        self._check_exists()
        readers: dict[str, Callable[[], Iterator[tuple[int, str, str]]]] = {
            "tsv": self._read_tsv,
            "csv": self._read_csv,
            "jsonl": self._read_jsonl,
            "text": self._read_text_pair,
        }
        table: dict[str, str] = {}
        conflicts = 0
        for line, src, tgt in readers[self.format]():
            key = _key(src)
            if not key:
                continue
            if not tgt.strip():
                raise DistillError(
                    f"{self.path}:{line}: empty translation for {_short(src)}",
                    fix="give every source sentence a translation, or drop the row",
                )
            old = table.setdefault(key, tgt.strip())
            conflicts += old != tgt.strip()
        if conflicts:
            log.warning(
                "%s: %d source sentences have several different translations; using the first",
                self.path,
                conflicts,
            )
        log.info("read %d translations from %s", len(table), self.path)
        return table

    def _columns(self, header: list[str]) -> tuple[int, int]:
        missing = [c for c in (self.src_column, self.tgt_column) if c not in header]
        if missing:
            raise DistillError(
                f"{self.path}:1: no column {' or '.join(map(repr, missing))} in the header {header}",
                fix=f"name them {self.src_column!r} and {self.tgt_column!r}, or set src_column/tgt_column",
            )
        return header.index(self.src_column), header.index(self.tgt_column)

    def _read_tsv(self) -> Iterator[tuple[int, str, str]]:
        lines = _lines(_read_text(self.path))
        first = next(lines, None)
        if first is None:
            raise DistillError(
                f"translation file {self.path} is empty", fix="give a header line and one row per sentence"
            )
        header = first[1].split("\t")
        s, t = self._columns(header)
        for line, row in lines:
            if not row.strip():
                continue
            fields = row.split("\t")
            if len(fields) != len(header):
                raise DistillError(
                    f"{self.path}:{line}: {len(fields)} tab-separated fields, the header has {len(header)}",
                    fix="remove tabs inside sentences (TSV has no quoting)",
                )
            yield line, fields[s], fields[t]

    def _read_csv(self) -> Iterator[tuple[int, str, str]]:
        reader = csv.reader(io.StringIO(_read_text(self.path), newline=""), strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise DistillError(
                    f"translation file {self.path} is empty", fix="give a header row and one row per sentence"
                )
            s, t = self._columns(header)
            for row in reader:
                if not row or not "".join(row).strip():
                    continue
                if len(row) != len(header):
                    raise DistillError(
                        f"{self.path}:{reader.line_num}: {len(row)} fields, the header has {len(header)}",
                        fix="quote fields that contain commas",
                    )
                yield reader.line_num, row[s], row[t]
        except csv.Error as exc:
            raise DistillError(
                f"{self.path}:{reader.line_num}: malformed CSV: {exc}",
                fix='quote fields that contain commas, quotes ("") or line breaks',
            ) from exc

    def _read_jsonl(self) -> Iterator[tuple[int, str, str]]:
        for line, row in _lines(_read_text(self.path)):
            if not row.strip():
                continue
            try:
                obj = json.loads(row)
            except json.JSONDecodeError as exc:
                raise DistillError(
                    f"{self.path}:{line}: not a JSON object: {exc.msg}",
                    fix="write one JSON object per line (JSON Lines)",
                ) from exc
            except RecursionError:
                raise DistillError(
                    f"{self.path}:{line}: JSON nested too deeply to read",
                    fix='write one flat object per line, e.g. {"src": "...", "tgt": "..."}',
                ) from None
            if not isinstance(obj, dict):
                raise DistillError(
                    f"{self.path}:{line}: expected a JSON object, got {type(obj).__name__}",
                    fix='write one object per line, e.g. {"src": "...", "tgt": "..."}',
                )
            yield (
                line,
                self._json_field(obj, self.src_column, line),
                self._json_field(obj, self.tgt_column, line),
            )

    def _json_field(self, obj: dict[str, Any], column: str, line: int) -> str:
        value = obj.get(column)
        if not isinstance(value, str):
            problem = "missing" if value is None else f"a {type(value).__name__}, not a string"
            raise DistillError(
                f"{self.path}:{line}: key {column!r} is {problem}",
                fix="every line needs string values under src_column and tgt_column",
            )
        return value

    def _read_text_pair(self) -> Iterator[tuple[int, str, str]]:
        assert self.target_path is not None
        src = list(_lines(_read_text(self.path)))
        tgt = list(_lines(_read_text(self.target_path)))
        if len(src) != len(tgt):
            raise DistillError(
                f"{self.path} has {len(src)} lines but {self.target_path} has {len(tgt)} (they must align)",
                fix="give one translation per line, in the same order",
            )
        for (line, s), (_, t) in zip(src, tgt, strict=True):
            yield line, s, t

    def _translate(self, texts: list[str]) -> list[str]:
        assert self._table is not None  # loaded by check()
        table = self._table
        missing = [t for t in texts if _key(t) not in table]
        if missing:
            unique = list(dict.fromkeys(missing))
            shown = "; ".join(_short(t) for t in unique[:_SHOW])
            raise DistillError(
                f"{len(missing)} of {len(texts)} sentences ({len(unique)} distinct) have no translation in "
                f"{self.path}; first: {shown}",
                fix="add them to the file, or translate with another backend (apertium, marian)",
            )
        return [table[_key(t)] for t in texts]


# --------------------------------------------------------------------------------------------------
# Marian (Hugging Face)
# --------------------------------------------------------------------------------------------------


class MarianTranslator(Translator):
    """Neural translation with a Hugging Face ``MarianMTModel`` and its ``MarianTokenizer``.

    The model is loaded on first use. Sentences are translated longest first in batches of similar
    length (less padding), and the results are put back in input order. Decoding is greedy unless
    ``num_beams > 1``, so results are deterministic.

    Args:
        model: A hub id such as ``Helsinki-NLP/opus-mt-en-es`` (needs network the first time) or a
            local folder written by ``save_pretrained``.
        batch_size: Sentences per ``generate`` call.
        max_length: Longest input (tokens; longer inputs are truncated) and longest output.
        device: ``cpu``, ``cuda``, ``cuda:1``, ... or ``auto`` (CUDA when available).
        num_beams: Beam size; 1 is greedy decoding.
    """

    name = "marian"

    def __init__(
        self,
        model: str,
        batch_size: int = 16,
        max_length: int = 256,
        device: str = "cpu",
        num_beams: int = 1,
    ) -> None:
        for option, value in (
            ("batch_size", batch_size),
            ("max_length", max_length),
            ("num_beams", num_beams),
        ):
            _positive(option, value)
        local = Path(model).expanduser()
        # A local folder is resolved now (Hydra may change directory); a hub id is kept as given.
        self.model = str(local.resolve()) if local.is_dir() else model
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.device = device
        self.num_beams = int(num_beams)
        self._loaded: tuple[Any, Any, Any] | None = None  # (tokenizer, model, torch.device)

    def describe(self) -> str:
        """E.g. ``marian:Helsinki-NLP/opus-mt-en-es:beams=1:max_length=256``."""
        return f"marian:{self.model}:beams={self.num_beams}:max_length={self.max_length}"

    def check(self) -> None:
        """Load the tokenizer and model (once)."""
        if self._loaded is None:
            self._loaded = self._load()

    def _torch_device(self) -> Any:
        import torch

        name = self.device
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            device = torch.device(name)
        except RuntimeError as exc:
            raise DistillError(
                f"unknown device {self.device!r}", fix="use cpu, cuda, cuda:N or auto"
            ) from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise DistillError(
                f"device {self.device!r} requested but CUDA is not available", fix="use device=cpu"
            )
        return device

    def _load(self) -> tuple[Any, Any, Any]:
        from transformers import MarianMTModel, MarianTokenizer

        device = self._torch_device()
        fix = (
            "give a local folder written by save_pretrained (config.json, model weights, source.spm, "
            "target.spm, vocab.json), or a hub id such as Helsinki-NLP/opus-mt-en-es while online "
            "(HF_HUB_OFFLINE unset)"
        )
        try:
            # The model first: for a missing model it raises a clear OSError, whereas the tokenizer
            # (offline, files not found) gets None paths and fails with a TypeError deep inside.
            model = MarianMTModel.from_pretrained(self.model)
            tokenizer = MarianTokenizer.from_pretrained(self.model)
        except ImportError as exc:  # MarianTokenizer needs the sentencepiece package
            raise DistillError(
                f"cannot load the Marian tokenizer: {exc}", fix="pip install 'xlt-distill[marian]'"
            ) from exc
        except (OSError, ValueError, TypeError, AssertionError) as exc:
            raise DistillError(f"cannot load Marian model {self.model!r}: {exc}", fix=fix) from exc
        model.to(device).eval()
        log.info("loaded Marian model %s on %s", self.model, device)
        return tokenizer, model, device

    def _translate(self, texts: list[str]) -> list[str]:
        import torch

        assert self._loaded is not None  # loaded by check()
        tokenizer, model, device = self._loaded
        # Longest first, so that running out of memory happens on the first batch, not the last;
        # characters are a good enough proxy for tokens here. sorted() is stable: ties keep order.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = [""] * len(texts)
        for start, stop in _batches(len(order), self.batch_size):
            idx = order[start:stop]
            enc = tokenizer(
                [texts[i] for i in idx],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
            ).to(device)
            with torch.inference_mode():
                generated = model.generate(
                    **enc, num_beams=self.num_beams, do_sample=False, max_length=self.max_length
                )
            for i, text in zip(idx, tokenizer.batch_decode(generated, skip_special_tokens=True), strict=True):
                out[i] = text.strip()
        return out


# --------------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------------

#: Backend name -> class, for :func:`build_translator`.
TRANSLATORS: dict[str, type[Translator]] = {
    ApertiumTranslator.name: ApertiumTranslator,
    FileTranslator.name: FileTranslator,
    MarianTranslator.name: MarianTranslator,
}


def build_translator(backend: str, **options: Any) -> Translator:
    """Build a translator by backend name (``apertium``, ``file`` or ``marian``).

    Usable from Hydra as ``_target_: distill.data.translate.build_translator``.

    Args:
        backend: Key of :data:`TRANSLATORS`.
        **options: Keyword arguments of that backend's class.

    Raises:
        DistillError: Unknown backend or option.
    """
    cls = TRANSLATORS.get(backend)
    if cls is None:
        raise DistillError(
            f"unknown translator backend {backend!r}", fix=f"use one of {', '.join(TRANSLATORS)}"
        )
    try:
        return cls(**options)
    except TypeError as exc:  # an unknown or missing keyword from the config
        raise DistillError(
            f"bad options for translator {backend!r}: {exc}", fix=f"see {cls.__name__}'s arguments"
        ) from exc
