"""Adapter versions per language on disk: add, promote, roll back.

Layout (the registry folder, by default ``<export>/registry``)::

    registry.json          {"<lang>": {"active": "v2", "history": ["v1", "v2"], "versions": [...]}}
    <lang>/v1/             a PEFT adapter folder (adapter_config.json + adapter_model.safetensors)
    <lang>/v2/

``registry.json`` is the single source of truth and is rewritten atomically; a version folder is
copied in atomically and never changed afterwards, so a version name always means the same weights.
``history`` is the order of promotions: ``rollback`` returns to the version active before the
current one. A new registry starts from the export's own ``adapters/<lang>/`` as ``v1``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distill.errors import DistillError
from distill.utils.atomic import atomic_dir, write_text_atomic

INDEX = "registry.json"
_VERSION = re.compile(r"^v(\d+)$")


@dataclass(frozen=True)
class Change:
    """What a registry operation did: the language, the version now active and the one before."""

    lang: str
    active: str
    previous: str | None
    action: str


class AdapterRegistry:
    """The versions of each language's adapter and which one serves (thread-safe)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self._lock = threading.Lock()
        index = self.root / INDEX
        self._index: dict[str, Any] = json.loads(index.read_text(encoding="utf-8")) if index.is_file() else {}

    @classmethod
    def for_export(cls, export: Path, root: Path | None = None) -> AdapterRegistry:
        """The registry of an adapter export, seeded with its ``adapters/<lang>/`` as ``v1``."""
        from distill.adapters import MANIFEST

        registry = cls(root or export / "registry")
        langs = json.loads((export / MANIFEST).read_text(encoding="utf-8"))["languages"]
        for lang in langs:
            if lang not in registry._index:
                registry.add(lang, export / "adapters" / lang, promote=True)
        return registry

    # -------------------------------------------------------------------- reading

    def languages(self) -> list[str]:
        return sorted(self._index)

    def active(self) -> dict[str, str]:
        """``{lang: active version}``."""
        with self._lock:
            return {lang: e["active"] for lang, e in self._index.items() if e.get("active")}

    def versions(self, lang: str) -> list[str]:
        return list(self._entry(lang)["versions"])

    def path(self, lang: str, version: str) -> Path:
        if version not in self._entry(lang)["versions"]:
            raise DistillError(
                f"no version {version!r} of the {lang!r} adapter; it has {self.versions(lang)}",
                fix="add the adapter first, or pick a listed version",
            )
        return self.root / lang / version

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._index))

    def _entry(self, lang: str) -> dict[str, Any]:
        if lang not in self._index:
            raise DistillError(
                f"no adapter registered for {lang!r}; registered: {sorted(self._index) or 'none'}",
                fix="add one first (POST /admin/adapters/<lang>)",
            )
        return self._index[lang]

    # -------------------------------------------------------------------- changing

    def _save(self) -> None:
        write_text_atomic(self.root / INDEX, json.dumps(self._index, indent=2, sort_keys=True) + "\n")

    def add(self, lang: str, source: str | os.PathLike[str], *, promote: bool = False) -> str:
        """Copy the adapter folder ``source`` in as ``lang``'s next version; returns the version."""
        src = Path(source)
        if not (src / "adapter_config.json").is_file():
            raise DistillError(
                f"{src} is not a PEFT adapter folder (no adapter_config.json)",
                fix="pass an adapters/<lang>/ folder written by an adapter export",
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", lang):
            raise DistillError(f"bad language code {lang!r}", fix="use a code such as it or pt-BR")
        with self._lock:
            entry = self._index.setdefault(lang, {"active": None, "history": [], "versions": []})
            numbers = [int(m.group(1)) for v in entry["versions"] if (m := _VERSION.match(v))]
            version = f"v{max(numbers, default=0) + 1}"
            with atomic_dir(self.root / lang / version, overwrite=False) as tmp:
                for item in src.iterdir():
                    if item.is_file():
                        shutil.copy2(item, tmp / item.name)
            entry["versions"].append(version)
            if promote:
                entry["active"] = version
                entry["history"].append(version)
            self._save()
        return version

    def promote(self, lang: str, version: str) -> Change:
        """Make ``version`` the one that serves ``lang``."""
        self.path(lang, version)
        with self._lock:
            entry = self._index[lang]
            previous = entry["active"]
            entry["active"] = version
            entry["history"].append(version)
            self._save()
        return Change(lang, version, previous, "promote")

    def rollback(self, lang: str) -> Change:
        """Return ``lang`` to the version that served before the active one."""
        with self._lock:
            entry = self._entry(lang)
            history = entry["history"]
            if len(history) < 2:
                raise DistillError(
                    f"the {lang!r} adapter has no earlier version to roll back to (history {history})",
                    fix="promote a version first",
                )
            previous = history.pop()
            entry["active"] = history[-1]
            self._save()
        return Change(lang, entry["active"], previous, "rollback")
