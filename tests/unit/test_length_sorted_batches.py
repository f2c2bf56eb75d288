"""The teacher's length-sorted batches: tokenised once, padded as the tokenizer pads."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from distill.models import classifier
from distill.models.classifier import length_sorted_batches
from distill.models.tiny import build_tiny_encoder

TEXTS = [
    "short",
    "a much longer sentence with many words in it, really quite long",
    "",
    "mid size text here",
    "Ciao, il film è bello!",
    "日本語 text",
] * 5


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    return AutoTokenizer.from_pretrained(str(build_tiny_encoder(tmp_path_factory.mktemp("tiny"), seed=3)))


class CountingTokenizer:
    """The tokenizer, counting the texts it is asked to tokenise."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer, self.texts = tokenizer, 0

    def __call__(self, texts, **kwargs):
        self.texts += len(texts)
        return self.tokenizer(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("keep_ids", [True, False])
@pytest.mark.parametrize("max_length", [4, 64])
def test_batches_equal_the_tokenizers_own_padding(tokenizer, monkeypatch, side, keep_ids, max_length):
    monkeypatch.setattr(tokenizer, "padding_side", side)
    monkeypatch.setattr(classifier, "KEEP_IDS_MAX", classifier.KEEP_IDS_MAX if keep_ids else 0)
    counting = CountingTokenizer(tokenizer)
    batches = list(
        length_sorted_batches(
            counting, TEXTS, batch_size=4, max_length=max_length, device=torch.device("cpu"), prefix="q: "
        )
    )
    seen = []
    for idx, batch in batches:
        expected = tokenizer(
            ["q: " + TEXTS[i] for i in idx],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        assert set(batch.keys()) == set(expected.keys())
        for key in expected:
            assert torch.equal(batch[key], expected[key]), key
        seen.extend(idx.tolist())
    assert sorted(seen) == list(range(len(TEXTS)))
    lengths = [int(b["attention_mask"].sum(1).max()) for _, b in batches]
    assert lengths == sorted(lengths, reverse=True)  # longest first
    # Tokenised once (kept ids), or counted and tokenised again per batch (above KEEP_IDS_MAX).
    assert counting.texts == len(TEXTS) * (1 if keep_ids else 2)


def test_pad_rows_matches_the_tokenizer_for_rows_in_any_order(tokenizer) -> None:
    from distill.data.collate import pad_rows

    enc = dict(tokenizer(TEXTS, truncation=True, max_length=16))
    rows = [5, 0, 2, 1]
    padded = pad_rows(enc, rows, tokenizer)
    expected = tokenizer([TEXTS[r] for r in rows], truncation=True, max_length=16, padding=True)
    for key in expected:
        assert padded[key].tolist() == expected[key]


def test_an_empty_text_list_yields_no_batch(tokenizer) -> None:
    batches = length_sorted_batches(tokenizer, [], batch_size=4, max_length=8, device=torch.device("cpu"))
    assert list(batches) == []
