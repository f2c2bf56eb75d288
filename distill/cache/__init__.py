"""The shared on-disk cache under ``$DISTILL_CACHE``: soft labels, their shards, translation tables.

One public API; the modules behind it, bottom up:

* :mod:`~distill.cache.store`: a ``datasets`` table next to a manifest of its files' hashes.
* :mod:`~distill.cache.fingerprint`: the soft-label key (teacher folder and texts, hashed).
* :mod:`~distill.cache.entries`: soft-label entries (:class:`SoftLabels`), read and written atomically.
* :mod:`~distill.cache.shards`: the label stage's shards (:class:`EntryShards`), the unit a killed
  stage resumes from, and the teacher that labels them (:class:`ShardedTeacher`).
* :mod:`~distill.cache.devices`: the shards labelled on several devices (Lightning prediction).
* :mod:`~distill.cache.soft_labels`: :func:`soft_labels` and :func:`label_stage`.
* :mod:`~distill.cache.tables` and :mod:`~distill.cache.translations`: content-keyed tables
  (teacher embeddings, machine translations).

Example::

    labels = soft_labels(Path("runs/teacher"), ["How are you?"], mode="parallel", max_length=128)
    labels.logits()  # (N, C) float32, memory-mapped from the cache
"""

from __future__ import annotations

from distill.cache.entries import MANIFEST, SoftLabels
from distill.cache.fingerprint import FORMAT_VERSION, TeacherFingerprint, cache_key, teacher_fingerprint

# The shard API is bound before soft_labels is imported: distill.cache.devices, which soft_labels
# imports, reads it from this package.
from distill.cache.shards import (
    SHARD_ROWS,
    EntryShards,
    Group,
    ModelLoader,
    ShardedTeacher,
    label_token_budget,
)
from distill.cache.soft_labels import TEACHER_COLUMNS, LabelOptions, label_stage, soft_labels
from distill.cache.tables import MANIFEST as TABLE_MANIFEST
from distill.cache.tables import CachedTable, cached_table, table_key
from distill.cache.translations import cached_translate

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "SHARD_ROWS",
    "TABLE_MANIFEST",
    "TEACHER_COLUMNS",
    "CachedTable",
    "EntryShards",
    "Group",
    "LabelOptions",
    "ModelLoader",
    "ShardedTeacher",
    "SoftLabels",
    "TeacherFingerprint",
    "cache_key",
    "cached_table",
    "cached_translate",
    "label_stage",
    "label_token_budget",
    "soft_labels",
    "table_key",
    "teacher_fingerprint",
]
