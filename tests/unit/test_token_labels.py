"""Word-level soft labels: per-word teacher logits, their content-addressed cache, projection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from distill.tasks.token_classification.labels import (
    cached_word_logits,
    project_labels,
    word_logits,
    word_masks,
    word_vectors,
)
from distill.tasks.token_classification.words import encode_words

SENTENCES = [
    ["ciao", "Maria", "come", "stai"],
    ["io", "vivo", "a", "Castelnuovo", "di", "Garfagnana"],
    ["sì"],
]


def _tagger(root: Path) -> tuple[object, object]:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from distill.models.tiny import build_tiny_encoder

    enc = build_tiny_encoder(root / "encoder")
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(str(enc), num_labels=5)
    return model.eval(), AutoTokenizer.from_pretrained(str(enc))


def test_word_logits_are_each_words_first_sub_word_whatever_the_batch(tmp_path: Path) -> None:
    model, tokenizer = _tagger(tmp_path)
    batched = word_logits(model, tokenizer, SENTENCES, 64, batch_size=3)
    assert [x.shape for x in batched] == [(4, 5), (6, 5), (1, 5)]
    for words, rows in zip(SENTENCES, batched, strict=True):
        enc = tokenizer([words], is_split_into_words=True, return_tensors="pt")
        with torch.inference_mode():
            logits = model(**enc).logits[0]
        ids = enc.word_ids(0)
        first = [ids.index(w) for w in range(len(words))]
        np.testing.assert_allclose(rows, logits[first].numpy(), atol=1e-5)  # padding changes nothing
    short = word_logits(model, tokenizer, SENTENCES[1:2], max_length=5)
    kept = set(encode_words(tokenizer, SENTENCES[1:2], 5)["word_index"][0].tolist())
    expected = [w in kept for w in range(len(SENTENCES[1]))]
    assert word_masks(short)[0].tolist() == expected and expected[0] and not expected[-1]  # cut off: no row


def test_the_cache_is_keyed_by_the_words_and_reused(tmp_path: Path, isolated_cache: Path) -> None:
    model, tokenizer = _tagger(tmp_path)
    spec = {"teacher": "tiny", "max_length": 64, "pooling": "first"}
    calls: list[int] = []

    def compute(sentences: list[list[str]]) -> list[np.ndarray]:
        calls.append(len(sentences))
        return word_logits(model, tokenizer, sentences, 64)

    first, hit1 = cached_word_logits(spec, SENTENCES, lambda: compute(SENTENCES))
    again, hit2 = cached_word_logits(spec, SENTENCES, lambda: compute(SENTENCES))
    assert (hit1, hit2) == (False, True) and calls == [3]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)  # the stored rows come back as computed
    # the same characters split into other words are other soft labels: another entry
    joined = [["ciao", "Maria", "come stai"], *SENTENCES[1:]]
    _, hit3 = cached_word_logits(spec, joined, lambda: compute(joined))
    _, hit4 = cached_word_logits({**spec, "pooling": "mean"}, SENTENCES, lambda: compute(SENTENCES))
    assert not hit3 and not hit4 and calls == [3, 3, 3]
    assert len(list((isolated_cache / "word_logits").iterdir())) == 3


def test_projection_through_real_alignments_carries_each_words_label_to_its_twin() -> None:
    from transformers import AutoModel, AutoTokenizer

    from distill.models.resolve import _minilm

    folder = str(_minilm())
    tokenizer, encoder = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder)
    src = [["yesterday", "maria", "bought", "bread", "in", "paris"]]
    tgt = [["in", "paris", "maria", "bought", "bread", "yesterday"]]
    classes = np.eye(6)  # source word i is sure of class i
    vectors = [word_vectors(encoder, tokenizer, s, 32, layer=4) for s in (src, tgt)]
    ((probs, confidence, mask),) = project_labels([classes], vectors[0], vectors[1])
    assert mask.all() and (confidence > 0.5).all()
    assert probs.argmax(1).tolist() == [src[0].index(w) for w in tgt[0]]
