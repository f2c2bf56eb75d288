"""The :class:`Translator` contract every machine-translation backend implements, and its helpers."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import ClassVar

from distill.errors import DistillError

# How many inputs an error message shows, and how much of each.
SHOW = 5
SHOW_CHARS = 80


def short_repr(text: str) -> str:
    """``repr`` of ``text`` cut to a readable length for error messages."""
    return repr(text if len(text) <= SHOW_CHARS else text[:SHOW_CHARS] + "...")


def batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` index ranges that cover ``range(n)`` in chunks of ``size``."""
    for start in range(0, n, size):
        yield start, min(start + size, n)


def require_positive(name: str, value: float) -> None:
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
