"""Vocabulary trimming: keep only the word pieces the student's tokenizer produces on the run's texts.

As in "Load What You Need: Smaller Versions of Multilingual BERT" (Abdaoui et al., 2020): a
multilingual encoder spends most of its parameters on the word-embedding matrix (multilingual-e5-small:
96M of 118M, 250,037 rows), but a corpus in two or three languages uses a few percent of the pieces.
:func:`trim_vocabulary` keeps the pieces the tokenizer produces on the given texts (plus the special
tokens), shrinks the embedding matrix to those rows, and rebuilds the tokenizer over the kept pieces
so that it maps the same texts to the same pieces (ids renumbered in the old order).

Why the segmentation stays the same:

* **Unigram** (SentencePiece, XLM-R/E5): the Viterbi best segmentation of a text over the full
  vocabulary uses kept pieces only, so it is still a candidate over the kept ones, and every other
  candidate over the kept pieces was one before: the best stays the best. The unknown-piece score
  is ``min(score) - 10``; the lowest-scoring piece is kept too, so that score does not change.
* **WordPiece** (BERT): greedy longest match first; the longest match found over the full
  vocabulary is kept, and no longer piece exists among the kept ones.
* **BPE** (RoBERTa, GPT-2) applies merges through intermediate pieces that need not appear in the
  output: refused (:class:`~distill.errors.DistillError` naming the type and the fix).

:func:`trim_vocabulary` checks the claim on the texts themselves: every text must tokenise to the
remapped ids of its old tokenisation, or trimming is refused. At inference a piece that was not
kept maps to the unknown token.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from distill.errors import DistillError

log = logging.getLogger(__name__)

#: The ``config.json`` key of an exported student that records the trimming.
CONFIG_KEY = "xlt_distill_vocab_trim"
SUPPORTED = ("Unigram", "WordPiece")
_BATCH = 1024


@dataclass(frozen=True)
class TrimInfo:
    """What trimming did (recorded in the export's ``config.json`` and model card).

    Attributes:
        pieces_before: Vocabulary size before.
        pieces_after: Vocabulary size after (pieces seen in the texts + special tokens).
        params_before: Parameters of the model before.
        params_after: Parameters after.
        texts: How many texts the kept pieces were collected from.
        tokenizer_type: The tokenizer model (``Unigram`` or ``WordPiece``).
    """

    pieces_before: int
    pieces_after: int
    params_before: int
    params_after: int
    texts: int
    tokenizer_type: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _batches(texts: Iterable[str], size: int = _BATCH) -> Iterator[list[str]]:
    it = iter(texts)
    while batch := list(islice(it, size)):
        yield batch


def _encode(tokenizer: Any, texts: list[str], prefix: str) -> list[list[int]]:
    # No truncation: a piece beyond max_length still belongs to the text.
    return tokenizer([prefix + t for t in texts], add_special_tokens=True)["input_ids"]  # type: ignore[no-any-return]


def used_ids(tokenizer: Any, texts: Iterable[str], prefix: str = "") -> tuple[np.ndarray, int]:
    """The sorted ids the tokenizer produces on ``texts`` (special tokens included) and the text count."""
    seen = np.zeros(len(tokenizer), dtype=bool)
    seen[[i for i in tokenizer.all_special_ids if i is not None]] = True
    n = 0
    for batch in _batches(texts):
        n += len(batch)
        for ids in _encode(tokenizer, batch, prefix):
            seen[ids] = True
    return np.flatnonzero(seen), n


def _remap_ids(node: Any, old2new: dict[int, int]) -> Any:
    """Renumber the ``ids`` of special tokens inside a post-processor (any nesting)."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "ids" and isinstance(v, list):
                out[k] = [old2new[i] for i in v]
            elif k in ("cls", "sep") and isinstance(v, list) and len(v) == 2 and isinstance(v[1], int):
                out[k] = [v[0], old2new[v[1]]]  # BertProcessing / RobertaProcessing: [token, id]
            else:
                out[k] = _remap_ids(v, old2new)
        return out
    if isinstance(node, list):
        return [_remap_ids(v, old2new) for v in node]
    return node


def _trimmed_model_json(model: dict[str, Any], kept: list[int], old2new: dict[int, int]) -> dict[str, Any]:
    kind = model.get("type")
    if kind == "Unigram":
        vocab = model["vocab"]  # [[piece, score], ...] in id order
        unk = model.get("unk_id")
        return {
            **model,
            "vocab": [vocab[i] for i in kept],
            "unk_id": None if unk is None else old2new[unk],
        }
    if kind == "WordPiece":
        by_id = {i: piece for piece, i in model["vocab"].items()}
        return {**model, "vocab": {by_id[i]: old2new[i] for i in kept}}
    raise DistillError(
        f"student.trim_vocab supports {' and '.join(SUPPORTED)} tokenizers; this student's tokenizer is "
        f"{kind} (BPE merges pass through pieces that the output never shows, so they cannot be dropped)",
        fix="set student.trim_vocab=false, or use a student with a SentencePiece-Unigram or WordPiece "
        "tokenizer (e.g. student=me5_small)",
    )


def _kept_ids(tokenizer: Any, spec: dict[str, Any], used: np.ndarray) -> list[int]:
    """The used ids, plus (Unigram) the lowest-scoring piece, which fixes the unknown-piece score."""
    kept = set(used.tolist())
    if spec["model"].get("type") == "Unigram":
        scores = [s for _, s in spec["model"]["vocab"]]
        kept.add(int(np.argmin(scores)))
    kept |= {t["id"] for t in spec.get("added_tokens", [])}
    return sorted(kept)


def trimmed_tokenizer(tokenizer: Any, kept: list[int]) -> Any:
    """The tokenizer over the ``kept`` ids only, renumbered ``0..len(kept)-1`` in the old order.

    Raises:
        DistillError: A tokenizer that is not a fast (``tokenizer.json``) Unigram or WordPiece one.
    """
    from transformers import AutoTokenizer

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise DistillError(
            f"student.trim_vocab needs a fast tokenizer (tokenizer.json); {type(tokenizer).__name__} is not",
            fix="set student.trim_vocab=false, or save the student's tokenizer as a fast tokenizer",
        )
    spec = json.loads(backend.to_str())
    old2new = {old: new for new, old in enumerate(kept)}
    spec["model"] = _trimmed_model_json(spec["model"], kept, old2new)
    spec["added_tokens"] = [{**t, "id": old2new[t["id"]]} for t in spec.get("added_tokens", [])]
    if spec.get("post_processor"):
        spec["post_processor"] = _remap_ids(spec["post_processor"], old2new)
    if spec.get("padding") and "pad_id" in spec["padding"]:
        spec["padding"]["pad_id"] = old2new[spec["padding"]["pad_id"]]
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        folder = Path(tmp)
        (folder / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        for name in ("vocab.txt", "sentencepiece.bpe.model", "spiece.model", "tokenizer.model"):
            (folder / name).unlink(missing_ok=True)  # slow-tokenizer files would carry the old ids
        config_path = folder / "tokenizer_config.json"
        if config_path.is_file():
            config = json.loads(config_path.read_text(encoding="utf-8"))
            if "added_tokens_decoder" in config:
                config["added_tokens_decoder"] = {
                    str(old2new[int(i)]): v for i, v in config["added_tokens_decoder"].items()
                }
            config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
        return AutoTokenizer.from_pretrained(tmp)


def _trim_embeddings(model: nn.Module, kept: list[int]) -> None:
    """Keep the rows ``kept`` of the input word embeddings (in place) and renumber the config's ids."""
    old = model.get_input_embeddings()  # type: ignore[operator]
    if getattr(model, "get_output_embeddings", lambda: None)() is not None:
        raise DistillError(
            f"student.trim_vocab handles encoders with a classification head; {type(model).__name__} "
            "also has output word embeddings",
            fix="set student.trim_vocab=false",
        )
    index = torch.as_tensor(kept, dtype=torch.long)
    old2new = {o: n for n, o in enumerate(kept)}
    pad = getattr(model.config, "pad_token_id", None)
    # Built from the kept rows, not initialised and overwritten: a random init would draw from the
    # global generator and shift the dropout masks of the training that follows, so a trimmed run
    # would no longer train like the untrimmed one with the same seed.
    with torch.no_grad():
        rows = old.weight[index].detach().clone()
    new = nn.Embedding.from_pretrained(
        rows, freeze=not old.weight.requires_grad, padding_idx=old2new.get(pad) if pad is not None else None
    )
    model.set_input_embeddings(new)  # type: ignore[operator]
    config: Any = model.config
    config.vocab_size = len(kept)
    for key in ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            # A special id the tokenizer does not produce (e.g. an unused eos of a BERT config) has no row.
            setattr(config, key, old2new.get(value))


def _check_same_pieces(old: Any, new: Any, texts: Iterable[str], prefix: str, old2new: np.ndarray) -> None:
    for batch in _batches(texts):
        for text, a, b in zip(batch, _encode(old, batch, prefix), _encode(new, batch, prefix), strict=True):
            if old2new[np.asarray(a)].tolist() != b:
                raise DistillError(
                    f"student.trim_vocab: the trimmed tokenizer splits {text[:80]!r} differently "
                    f"({len(a)} vs {len(b)} pieces); the vocabulary is left as it was",
                    fix="set student.trim_vocab=false and report the text",
                )


def trim_vocabulary(
    model: nn.Module, tokenizer: Any, texts: Iterable[str], *, prefix: str = ""
) -> tuple[Any, TrimInfo]:
    """Keep only the pieces ``tokenizer`` produces on ``texts``; shrink ``model`` in place.

    Args:
        model: A ``transformers`` encoder or sequence classifier (its input embeddings are trimmed).
        tokenizer: Its fast tokenizer (Unigram or WordPiece).
        texts: Every text the model will read in this run (an iterable read twice: a re-iterable
            such as a list or a ``datasets`` column, not a generator).
        prefix: Prepended to every text before tokenising (``student.prefix``).

    Returns:
        ``(trimmed tokenizer, what was done)``; the model's config records it under
        :data:`CONFIG_KEY`, so the export carries it.

    Raises:
        DistillError: A BPE or slow tokenizer, a model with output embeddings, or a text the
            trimmed tokenizer splits differently (nothing is changed then).
    """
    params_before = sum(p.numel() for p in model.parameters())
    pieces_before = len(tokenizer)
    used, n_texts = used_ids(tokenizer, texts, prefix)
    spec = json.loads(tokenizer.backend_tokenizer.to_str()) if hasattr(tokenizer, "backend_tokenizer") else {}
    kind = str(spec.get("model", {}).get("type"))
    kept = _kept_ids(tokenizer, spec, used) if spec else used.tolist()
    new_tokenizer = trimmed_tokenizer(tokenizer, kept)
    old2new = np.full(pieces_before, -1, dtype=np.int64)
    old2new[kept] = np.arange(len(kept))
    _check_same_pieces(tokenizer, new_tokenizer, texts, prefix, old2new)
    _trim_embeddings(model, kept)
    info = TrimInfo(
        pieces_before=pieces_before,
        pieces_after=len(kept),
        params_before=params_before,
        params_after=sum(p.numel() for p in model.parameters()),
        texts=n_texts,
        tokenizer_type=kind,
    )
    setattr(model.config, CONFIG_KEY, info.to_dict())
    log.info(
        "student.trim_vocab: %d of %d pieces kept (from %d texts); parameters %d -> %d",
        info.pieces_after,
        info.pieces_before,
        n_texts,
        info.params_before,
        info.params_after,
    )
    return new_tokenizer, info
