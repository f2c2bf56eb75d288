"""The one JSON Lines reader of the data layer: objects with their line numbers, errors naming the line.

The table readers (:mod:`distill.data.files`) and the ``file`` MT backend
(:mod:`distill.data.translate`) both read JSON Lines. Each words the place of an error its own way
(``data file x.jsonl, line 3`` against ``x.jsonl:3``) and names other keys in its example, so those
parts are parameters; the loop and the checks are the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from distill.errors import DistillError


def jsonl_objects(
    lines: Iterable[tuple[int, str]],
    *,
    where: Callable[[int], str],
    not_json: Callable[[json.JSONDecodeError], str],
    example: str,
    keep_cause: bool = False,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON object on each non-blank line, as ``(line number, object)``, read lazily.

    Args:
        lines: ``(line number, text)`` pairs, the text without its line end.
        where: Line number -> the place an error message starts with (``x.jsonl:3``).
        not_json: The decoder's error -> what the message says of a line that is not JSON.
        example: An example object the fixes show, e.g. ``{"text": "...", "label": "..."}``.
        keep_cause: Chain the decoder's error to the :class:`DistillError` of a line that is not
            JSON (``raise ... from exc``) instead of hiding it.

    Raises:
        DistillError: A line that is not JSON, is nested too deeply to read, or is not an object.
    """
    for number, line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DistillError(
                f"{where(number)}: {not_json(exc)}",
                fix="write one JSON object per line (JSON Lines)",
            ) from (exc if keep_cause else None)
        except RecursionError:
            raise DistillError(
                f"{where(number)}: JSON nested too deeply to read",
                fix=f"write one flat object per line, e.g. {example}",
            ) from None
        if not isinstance(obj, dict):
            raise DistillError(
                f"{where(number)}: expected a JSON object, got {type(obj).__name__}",
                fix=f"write one object per line, e.g. {example}",
            )
        yield number, obj
