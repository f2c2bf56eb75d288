"""Word-level rows from any tokenizer: WordPiece (MiniLM) and SentencePiece (e5) meet on words."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from distill.errors import DistillError
from distill.tasks.token_classification.words import encode_words, pool_words

SENTENCES = [
    ["Maria", "Rossi", "abita", "a", "Castelnuovo", "di", "Garfagnana", "."],
    ["Ich", "heiße", "Zbigniew", "Brzęczyszczykiewicz"],
]


@pytest.fixture(scope="module")
def tokenizers() -> dict[str, object]:
    from distill.models.e5_packed import packaged_e5_path
    from distill.models.resolve import _minilm

    return {
        "wordpiece": AutoTokenizer.from_pretrained(str(_minilm())),
        "sentencepiece": AutoTokenizer.from_pretrained(str(packaged_e5_path("original"))),
    }


@pytest.mark.parametrize("mode", ["first", "mean"])
@pytest.mark.parametrize("kind", ["wordpiece", "sentencepiece"])
def test_every_word_gets_the_row_of_its_own_sub_words(tokenizers: dict, kind: str, mode: str) -> None:
    enc = encode_words(tokenizers[kind], SENTENCES, max_length=64)
    index = enc["word_index"]
    assert index.shape == enc["input_ids"].shape
    # sub-words carrying their own word number (and position, to tell first from mean) pool back
    # to exactly that number, for every word of both sentences
    positions = torch.arange(index.shape[1], dtype=torch.float).expand_as(index)
    x = torch.stack([index.float(), positions], dim=-1)  # (B, T, 2)
    n_words = max(len(s) for s in SENTENCES)
    rows, mask = pool_words(x, index, n_words, mode)
    for b, words in enumerate(SENTENCES):
        assert mask[b].tolist() == [True] * len(words) + [False] * (n_words - len(words))
        assert rows[b, : len(words), 0].tolist() == [float(w) for w in range(len(words))]
        for w in range(len(words)):
            where = (index[b] == w).nonzero().flatten().float()
            expected = where.min() if mode == "first" else where.mean()
            assert rows[b, w, 1].item() == pytest.approx(expected.item())
    # some words really have several sub-words here (else first and mean would not differ)
    assert max(int((index[b] == w).sum()) for b, s in enumerate(SENTENCES) for w in range(len(s))) > 1


def test_the_two_tokenizers_split_differently_yet_give_the_same_words(tokenizers: dict) -> None:
    a = encode_words(tokenizers["wordpiece"], SENTENCES, max_length=64)["word_index"]
    b = encode_words(tokenizers["sentencepiece"], SENTENCES, max_length=64)["word_index"]
    assert a.shape != b.shape or not torch.equal(a, b)
    for row_a, row_b, words in zip(a, b, SENTENCES, strict=True):
        assert set(row_a[row_a >= 0].tolist()) == set(row_b[row_b >= 0].tolist()) == set(range(len(words)))


def test_a_prefix_is_not_a_word_and_truncated_words_are_masked(tokenizers: dict) -> None:
    tok = tokenizers["sentencepiece"]
    plain = encode_words(tok, SENTENCES[:1], max_length=64)["word_index"]
    prefixed = encode_words(tok, SENTENCES[:1], max_length=64, prefix="query: ")["word_index"]
    assert prefixed[prefixed >= 0].tolist() == plain[plain >= 0].tolist()
    cut = encode_words(tok, SENTENCES[:1], max_length=6)
    _, mask = pool_words(torch.ones(*cut["word_index"].shape, 1), cut["word_index"], len(SENTENCES[0]))
    assert mask[0, 0] and not mask[0, -1]  # the last words were cut off: no row, masked


def test_a_slow_tokenizer_and_an_unknown_pooling_are_refused(tokenizers: dict) -> None:
    with pytest.raises(DistillError, match="not a fast tokenizer"):
        encode_words(object(), SENTENCES, max_length=8)
    enc = encode_words(tokenizers["wordpiece"], SENTENCES, max_length=16)
    with pytest.raises(DistillError, match="word pooling"):
        pool_words(torch.ones(*enc["word_index"].shape, 1), enc["word_index"], 4, "last")
