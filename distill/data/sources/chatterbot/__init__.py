"""Topic-labelled chit-chat in 28 languages from the ``chatterbot-corpus`` package (BSD licence).

``chatterbot-corpus==1.3.3`` ships ``chatterbot_corpus/data/<language>/<topic>.yml`` files, each with
a ``conversations:`` list of conversations (lists of utterances). Many target-language files are
human translations of the English file, conversation by conversation and in the same order, so an
English utterance and its translation share a position ``(topic, conversation, utterance)``.

What this module builds, and why:

* **Labels.** The label of an utterance is its topic, taken from the file name (the ``categories:``
  field is itself translated, so it cannot serve as a shared label). A few target files use another
  name for an English topic (``sport.yml``, ``emociones.yml``, ``IA.yml``, ...); those names are
  mapped to the English topic (see ``_TOPIC_ALIASES``) so every language uses one label set.
* **Alignment.** A target conversation is aligned with English only when the topic has the same
  number of conversations in both languages *and* that conversation has the same number of
  utterances; counts that differ mean conversations or lines were added, dropped or merged, and
  positions then no longer correspond. Aligned rows carry a ``pair_id`` ``"<topic>/<conv>/<utt>"``
  shared with the English row; unaligned target rows have ``pair_id`` ``None``. English rows always
  carry their ``pair_id`` because they define it.
* **Splits** are decided per conversation on the *English* conversation's identity (topic and
  index), so every language puts a translated conversation in the same split and no test
  conversation has its English counterpart (or any translation of it) in training. Within each
  English topic the conversations are ranked by a SHA-256 hash and the first 20% (rounded half
  up) go to ``test``, the next 10% to ``validation`` and the rest (about 70%) to ``train``
  (stratified: before de-duplication every topic with five or more conversations is in every
  split). Target
  conversations at positions English does not have fall back to a hash threshold with the same
  70/10/20 fractions. Nothing depends on ``PYTHONHASHSEED``.
* **De-duplication.** The same text recurs across conversations ("Hello", "Tell me a joke" 30
  times in ``humor``; English ``tech_support`` is 2,100 utterances with only 20 distinct texts), so
  after splitting, each language keeps every text in exactly one split and once there: the first of
  train, test, validation that has it. So no test or validation text was seen in training, and no
  validation text is in test. Rows never move between splits (that would put one conversation in
  two splits); copies are dropped instead. The copy is kept in ``train`` rather than ``test``
  because keeping it in ``test`` would move whole repeated-text topics out of training (all of
  ``tech_support`` would be test-only, a label the teacher never sees); either way the test set
  holds no text seen in training. Repeats inside a split are dropped too, so a few chit-chat
  lines do not dominate training or evaluation. Texts are compared after NFKC
  normalisation, case folding, collapsing whitespace and trimming punctuation at both ends, which
  also catches "Hello!" vs "hello". Both kinds of removal are counted in the report.
* **Oddities.** YAML is read with the base loader, so every scalar stays the text that was written
  (``yes`` stays ``"yes"``, ``1.0`` stays ``"1.0"``). A conversation written as a bare string is
  wrapped as a one-utterance conversation, nested lists are flattened, mappings and empty values
  are skipped; every such event is counted in the report. Skipped items never shift the position
  of a conversation.

Run ``python -m distill.data.sources.chatterbot`` for the per-language alignment table.

The modules, bottom up: :mod:`~distill.data.sources.chatterbot.parse` (the YAML files),
:mod:`~distill.data.sources.chatterbot.splits` (splits, alignment, de-duplication),
:mod:`~distill.data.sources.chatterbot.corpus` (the corpus built once per data folder, its report),
:mod:`~distill.data.sources.chatterbot.api` (the datasets and label sets runs read) and
:mod:`~distill.data.sources.chatterbot.cli` (the alignment table).
"""

from __future__ import annotations

# The `_name as _name` imports re-export private names that distill.rank_sources and the tests read.
from distill.data.sources.chatterbot.api import (
    COLUMNS,
    PARALLEL_COLUMNS,
    chatterbot_labels,
    chatterbot_languages,
    chatterbot_parallel,
    chatterbot_parallel_labels,
    chatterbot_report,
    chatterbot_side,
    chatterbot_topics,
    load_chatterbot,
    resolve_chatterbot_lang,
)
from distill.data.sources.chatterbot.api import _resolve as _resolve
from distill.data.sources.chatterbot.cli import format_report, main
from distill.data.sources.chatterbot.corpus import ChatterbotLanguageReport
from distill.data.sources.chatterbot.corpus import _build as _build
from distill.data.sources.chatterbot.corpus import _corpus as _corpus
from distill.data.sources.chatterbot.corpus import _parallel_rows as _parallel_rows
from distill.data.sources.chatterbot.parse import CORPUS_PACKAGE, FOLDER_CODES, SOURCE_LANG
from distill.data.sources.chatterbot.parse import _default_data_dir as _default_data_dir
from distill.data.sources.chatterbot.parse import _read_topic as _read_topic
from distill.data.sources.chatterbot.splits import SPLIT_FRACTIONS, SPLITS, dedup_key
from distill.data.sources.chatterbot.splits import _stratified_splits as _stratified_splits

__all__ = [
    "COLUMNS",
    "CORPUS_PACKAGE",
    "FOLDER_CODES",
    "PARALLEL_COLUMNS",
    "SOURCE_LANG",
    "SPLITS",
    "SPLIT_FRACTIONS",
    "ChatterbotLanguageReport",
    "chatterbot_labels",
    "chatterbot_languages",
    "chatterbot_parallel",
    "chatterbot_parallel_labels",
    "chatterbot_report",
    "chatterbot_side",
    "chatterbot_topics",
    "dedup_key",
    "format_report",
    "load_chatterbot",
    "main",
    "resolve_chatterbot_lang",
]
