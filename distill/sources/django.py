"""``data=django``: unlabelled English->X UI strings from Django's translation catalogs (~100 languages).

The pairs (read by :mod:`distill.data.sources.django_po`) are one pool per language, split 80/10/10
by a hash of the pair id. There are no labels: a run needs a ready teacher (``teacher.path``) or
reads the corpus for embeddings only.
"""

from __future__ import annotations

from datasets import DatasetDict

from distill.data.parallel import split_by_hash
from distill.data.sources.django_po import load_django_pairs
from distill.sources.base import Source


class DjangoSource(Source):
    """Django's gettext catalogs (``data.min_words``: the shortest string kept, in words)."""

    package = "django"

    def parallel(self, lang: str) -> DatasetDict:
        """The English-``lang`` catalog pairs, split 80/10/10 by a hash of the pair id."""
        return split_by_hash(load_django_pairs(lang, min_words=int(self.data["min_words"])))
