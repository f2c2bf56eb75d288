"""``distill-rank-sources``: which source languages should teach a target language?

For a target language and candidate source languages, each candidate gets three pieces of evidence
and one score:

* **typology** (URIEL, Littell et al. 2017): the cosine similarity of the two languages' URIEL
  vectors, averaged over five feature sets: ``syntax_knn``, ``phonology_knn`` and
  ``inventory_knn`` (typological features with missing values predicted by k-NN, so every
  language has a full vector), ``fam`` (membership in the Glottolog family tree) and ``geo``
  (distances to fixed points on the globe). The vectors come from the ``.npz`` files that the
  ``lang2vec==1.1.2`` wheel ships, read with numpy: that version has no ``distance()`` (later ones
  download ``distances.zip`` for it) and its module imports ``pkg_resources``, which setuptools
  >= 81 no longer has, so nothing is imported from it and nothing is downloaded.
* **overlap**: the share of the target text's subword tokens (under the student's tokenizer)
  whose type also occurs in the candidate's text (Jaccard of the type sets is shown too). Shared
  subwords are what lets a multilingual student carry a label from one language to another.
* **embedding**: the mean cosine similarity of the student's mean-pooled embeddings of the two
  sides of aligned sentence pairs (candidate vs target): how close the student already puts
  translations.

``score`` is the weighted mean of the signals (each in [0, 1]; cosines clipped at 0), default
weights 1/1/1. A signal that some candidate lacks (a language URIEL does not know) is dropped for
every candidate, so that scores stay comparable, and the note says so. The ranking JSON
(``--out``) is what ``combine=similarity`` reads (:func:`similarity_weights`).

Example::

    distill-rank-sources --target ko --candidates en it ja uk --student me5_small --out ko.json

Modules: :mod:`~distill.rank_sources.uriel` (typology), :mod:`~distill.rank_sources.ranking` (the
signals, the score and the ranking JSON), :mod:`~distill.rank_sources.data` (the text read) and
:mod:`~distill.rank_sources.cli` (the command line).
"""

from __future__ import annotations

from distill.rank_sources.cli import _entry, format_ranking, main, rank_sources
from distill.rank_sources.data import chatterbot_data, file_data
from distill.rank_sources.ranking import (
    FORMAT,
    SIGNALS,
    Candidate,
    LanguageData,
    Ranking,
    StudentSpec,
    embedding_similarity,
    rank_candidates,
    read_ranking,
    similarity_weights,
    subword_overlap,
)
from distill.rank_sources.uriel import URIEL_PACKAGE, URIEL_SETS, uriel_code, uriel_similarity, uriel_vector

__all__ = [
    "FORMAT",
    "SIGNALS",
    "URIEL_PACKAGE",
    "URIEL_SETS",
    "Candidate",
    "LanguageData",
    "Ranking",
    "StudentSpec",
    "_entry",
    "chatterbot_data",
    "embedding_similarity",
    "file_data",
    "format_ranking",
    "main",
    "rank_candidates",
    "rank_sources",
    "read_ranking",
    "similarity_weights",
    "subword_overlap",
    "uriel_code",
    "uriel_similarity",
    "uriel_vector",
]
