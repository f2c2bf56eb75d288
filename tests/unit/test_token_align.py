"""SimAlign's argmax and itermax on our side, and the projection of word distributions through them."""

from __future__ import annotations

import numpy as np
import pytest

from distill.errors import DistillError
from distill.tasks.token_classification.align import align, argmax, itermax, project, similarity

# Source word 1 prefers target 0, which is taken by source 0; target 1 prefers source 0.
SIM = np.array([[0.9, 0.8, 0.1], [0.85, 0.2, 0.1], [0.1, 0.1, 0.7]])


def _pairs(links: np.ndarray) -> set[tuple[int, int]]:
    return {(int(i), int(j)) for i, j in zip(*np.nonzero(links), strict=True)}


def test_argmax_keeps_only_mutual_best_pairs() -> None:
    assert _pairs(argmax(SIM)) == {(0, 0), (2, 2)}


def test_itermax_aligns_words_left_free_by_argmax() -> None:
    # Round 2 (worked by hand from the paper's rule): the free source word 1 and the free target
    # word 1 each may pair with an aligned word at 0.9 of its similarity: (1, 0) and (0, 1) are
    # mutual best among those weights.
    assert _pairs(itermax(SIM)) == {(0, 0), (2, 2), (1, 0), (0, 1)}
    assert _pairs(itermax(SIM, max_count=1)) == _pairs(argmax(SIM))
    small = SIM[:2, :2]  # two words a side: itermax is argmax (as in SimAlign)
    assert _pairs(itermax(small)) == _pairs(argmax(small))
    with pytest.raises(DistillError, match="alignment"):
        align(SIM, "mwmf")


def test_projection_is_the_similarity_weighted_mean_and_masks_unaligned_words() -> None:
    src = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    sim = np.array([[0.9, 0.2, 0.1, 0.3], [0.6, 0.3, 0.1, 0.2], [0.1, 0.2, 0.8, 0.1]])
    links = np.zeros_like(sim, dtype=bool)
    links[0, 0] = links[1, 0] = links[2, 2] = True  # target 0 from sources 0 and 1; targets 1, 3 none
    probs, confidence, mask = project(src, sim, links)
    assert mask.tolist() == [True, False, True, False]
    np.testing.assert_allclose(probs[0], [0.9 / 1.5, 0.6 / 1.5])
    np.testing.assert_allclose(probs[2], [0.5, 0.5])
    np.testing.assert_allclose(probs[1], [0.5, 0.5])  # uniform, and masked
    np.testing.assert_allclose(confidence, [0.9, 0.0, 0.8, 0.0])
    np.testing.assert_allclose(probs.sum(1), 1.0)


def test_a_real_encoder_aligns_the_same_words_of_a_reordered_sentence() -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from distill.models.resolve import _minilm
    from distill.tasks.token_classification.words import encode_words, pool_words

    folder = str(_minilm())
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    src = ["yesterday", "maria", "bought", "bread", "in", "paris"]
    tgt = ["in", "paris", "maria", "bought", "bread", "yesterday"]
    enc = encode_words(tokenizer, [src, tgt], max_length=32)
    with torch.inference_mode():
        hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    vectors, _ = pool_words(hidden, enc["word_index"], len(src), "mean")
    links = itermax(similarity(vectors[0].numpy(), vectors[1].numpy()))
    expected = {(i, tgt.index(w)) for i, w in enumerate(src)}
    assert expected <= _pairs(links)  # every word finds its twin
    assert len(_pairs(links) - expected) <= 1  # and itermax adds little else
