"""The soft-label cache key: content hashes of the teacher folder and of the texts it reads.

The key hashes everything that decides the numbers (teacher weights, config, tokenizer, the texts in
order, mode, max length, prefix, the embedding flag and the cache format), and nothing else: a
copied teacher folder or another batch size hits the same entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from distill.errors import DistillError
from distill.utils.atomic import write_text_atomic
from distill.utils.hashing import file_sha256, text_sha256
from distill.utils.paths import cache_dir

log = logging.getLogger(__name__)

# Bump when the stored columns or their meaning change: every old entry then misses.
FORMAT_VERSION = 1
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "sentencepiece.model",
    "spiece.model",
    "tokenizer.model",
)
# JSON files whose bytes carry where and with what they were saved: hashed without these keys.
CANONICAL_JSON = ("config.json", "tokenizer_config.json")
_VOLATILE_KEYS = frozenset(
    {"_name_or_path", "name_or_path", "_commit_hash", "transformers_version", "is_local", "local_files_only"}
)
_SHA256 = re.compile(r"[0-9a-f]{64}")

# Per-file weight hashes of this process, keyed by (path, size, mtime_ns): a multi-GB teacher is
# hashed once, not once per split and language.
_FILE_HASHES: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class TeacherFingerprint:
    """Content hashes of what in a teacher folder decides its outputs (its location does not)."""

    weights: str
    config: str
    tokenizer: str


def _weights_file_sha256(path: Path) -> str:
    """``file_sha256`` remembered per (path, size, mtime), in memory and in a sidecar in the cache.

    The sidecar lets the jobs of a sweep share one hashing of a large teacher. A file rewritten
    with the same size within one filesystem timestamp tick would keep its old hash; saving a
    teacher takes far longer than a tick.
    """
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo in _FILE_HASHES:
        return _FILE_HASHES[memo]
    sidecar = cache_dir("file_hashes", text_sha256(*map(str, memo)))
    digest = sidecar.read_text().strip() if sidecar.is_file() else ""
    if not _SHA256.fullmatch(digest):
        digest = file_sha256(path)
        try:
            write_text_atomic(sidecar, digest)
        except OSError as e:  # a read-only cache only costs a re-hash next time
            log.debug("cannot write hash sidecar %s: %s", sidecar, e)
    _FILE_HASHES[memo] = digest
    return digest


def _canonical_json_sha256(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in _VOLATILE_KEYS}
    return text_sha256(json.dumps(data, sort_keys=True, ensure_ascii=False))


def _files_sha256(folder: Path, names: Iterable[str], hasher: Callable[[Path], str]) -> str:
    """One hash over (file name, content hash) of the files among ``names`` that exist."""
    parts = [f"{name}={hasher(folder / name)}" for name in sorted(names) if (folder / name).is_file()]
    return text_sha256(*parts)


def teacher_fingerprint(teacher_dir: str | Path) -> TeacherFingerprint:
    """Hash a teacher folder's weights, config and tokenizer files.

    Args:
        teacher_dir: A folder written by ``save_pretrained`` (model and tokenizer).

    Raises:
        DistillError: When the folder or its weights are missing.
    """
    folder = Path(teacher_dir)
    if not folder.is_dir():
        raise DistillError(f"teacher folder {folder} does not exist", fix="run distill-teacher first")
    weights = sorted({p.name for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern)})
    if not weights:
        raise DistillError(
            f"teacher folder {folder} has no weights (*.safetensors or *.bin)",
            fix="save the teacher with save_pretrained",
        )

    def canonical_or_raw(path: Path) -> str:
        return _canonical_json_sha256(path) if path.name in CANONICAL_JSON else file_sha256(path)

    return TeacherFingerprint(
        weights=_files_sha256(folder, weights, _weights_file_sha256),
        config=_files_sha256(folder, ["config.json"], _canonical_json_sha256),
        tokenizer=_files_sha256(folder, TOKENIZER_FILES, canonical_or_raw),
    )


def texts_sha256(texts: Iterable[str]) -> tuple[str, int]:
    """Order-sensitive streaming hash of texts (each length-prefixed) and their count.

    Raises:
        DistillError: When an item is not a string (e.g. a missing text).
    """
    h = hashlib.sha256()
    n = 0
    for n, text in enumerate(texts, start=1):
        if not isinstance(text, str):
            raise DistillError(f"text {n - 1} is {text!r}, not a string", fix="drop rows without text")
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest(), n


def entry_key(
    teacher: TeacherFingerprint,
    texts_hash: str,
    n_texts: int,
    *,
    mode: str,
    max_length: int,
    prefix: str,
    with_embeddings: bool,
    precision: str = "fp32",
) -> str:
    """The key of an entry from the hashes already computed (:func:`cache_key` computes them).

    A ``precision`` other than fp32 enters the key (its logits differ a little); fp32 entries keep
    the keys they had before precisions existed."""
    spec = {
        "format": FORMAT_VERSION,
        "teacher": [teacher.weights, teacher.config, teacher.tokenizer],
        "texts": [texts_hash, n_texts],
        "mode": mode,
        "max_length": int(max_length),
        "prefix": prefix,
        "with_embeddings": bool(with_embeddings),
    }
    if precision != "fp32":
        spec["precision"] = precision
    # 128 bits name an entry uniquely and keep paths short.
    return text_sha256(json.dumps(spec, sort_keys=True))[:32]


def cache_key(
    teacher_dir: str | Path,
    texts: Sequence[str],
    *,
    mode: str,
    max_length: int,
    prefix: str = "",
    with_embeddings: bool = False,
    precision: str = "fp32",
) -> str:
    """The soft-label cache key of a teacher and a text column.

    It changes with the teacher's weights, config (label names), tokenizer files, the texts or
    their order, ``mode``, ``max_length``, ``prefix``, ``with_embeddings``, ``precision`` (other
    than fp32) and the cache format,
    and with nothing else (not the teacher's location, not the batch size).

    Args:
        teacher_dir: The teacher folder.
        texts: The texts the teacher reads, in row order.
        mode: Transfer mode (``parallel``, ...).
        max_length: Truncation length in tokens.
        prefix: Prepended to every text before tokenising (e.g. ``"query: "``).
        with_embeddings: Whether pooled embeddings are stored too.
        precision: How the teacher ran (``teacher.precision``).

    Returns:
        32 hex characters.
    """
    return entry_key(
        teacher_fingerprint(teacher_dir),
        *texts_sha256(texts),
        mode=mode,
        max_length=max_length,
        prefix=prefix,
        with_embeddings=with_embeddings,
        precision=precision,
    )
