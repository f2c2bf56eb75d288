"""Small helpers for the language tags users type (``it``, ``pt-BR``, ``zh_hant``).

Users speak BCP-47 / ISO 639-1 tags; corpora name their folders however they like (``italian``,
``pt_BR``, ``zh_Hans``). These helpers put a tag into one canonical spelling so that lookups can
be a plain dictionary access, and format the "available codes" part of error messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from distill.errors import DistillError

# Subtags are separated by '-' in BCP-47 and by '_' in POSIX locales; accept both.
_SEPARATORS = re.compile(r"[-_\s]+")


def normalize_tag(code: str) -> str:
    """Return the canonical BCP-47 spelling of a language tag.

    The primary language subtag is lower-cased, a four-letter script subtag is title-cased and a
    two-letter (or three-digit) region subtag is upper-cased; ``_`` is accepted as a separator.

    Args:
        code: A tag such as ``"pt_br"``, ``"ZH-hant"`` or ``"it"``.

    Returns:
        The canonical tag, e.g. ``"pt-BR"``, ``"zh-Hant"``, ``"it"``; ``""`` for a blank input.
    """
    parts = [p for p in _SEPARATORS.split(code.strip()) if p]
    if not parts:
        return ""
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())  # script: Latn, Hant, Hans
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            out.append(part.upper())  # region: BR, GB, 419
        else:
            out.append(part.lower())
    return "-".join(out)


def tag_key(code: str) -> str:
    """Return a case-insensitive lookup key for a tag (``"pt_BR"`` and ``"pt-br"`` give the same key)."""
    return normalize_tag(code).casefold()


def format_codes(codes: Iterable[str]) -> str:
    """Return codes as one sorted, comma-separated string for error messages."""
    return ", ".join(sorted(set(codes)))


def check_lang_codes(codes: Iterable[str], key: str) -> None:
    """Refuse tags that are not languages (``xx``, ``english``), naming the config key.

    Raises:
        DistillError: A tag that is not a valid BCP-47 / ISO 639 language tag.
    """
    import langcodes

    for code in codes:
        if not isinstance(code, str) or not langcodes.tag_is_valid(normalize_tag(code)):
            raise DistillError(
                f"{key}: {code!r} is not an ISO 639 language code",
                fix="use ISO 639-1/-3 codes (BCP-47 tags), e.g. it, ja, pt-BR, zh-Hant",
            )
