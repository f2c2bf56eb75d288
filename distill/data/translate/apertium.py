"""Rule-based translation with Apertium, run as a subprocess (no model download, works offline)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess

from distill.data.translate.base import Translator, batches, require_positive
from distill.errors import DistillError

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
        require_positive("batch_size", batch_size)
        require_positive("timeout", timeout)
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
        for k, (start, stop) in enumerate(batches(len(texts), self.batch_size), 1):
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
