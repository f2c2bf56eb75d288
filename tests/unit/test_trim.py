"""student.trim_vocab: the kept pieces, the remapped ids, the same outputs before and after."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from distill.errors import DistillError
from distill.models.classifier import load_classifier
from distill.models.trim import CONFIG_KEY, trim_vocabulary

CORPUS = [
    "the movie is good",
    "il film è bello, grazie!",
    "I love music and books 42",
    "ciao, come stai?",
]


def _logits(model: torch.nn.Module, tokenizer: object, texts: list[str]) -> torch.Tensor:
    batch = tokenizer(texts, padding=True, return_tensors="pt")  # type: ignore[operator]
    with torch.inference_mode():
        return model(**batch).logits  # type: ignore[no-any-return]  # (B, C)


def _old_ids(tokenizer: object, texts: list[str]) -> list[list[int]]:
    return tokenizer(texts)["input_ids"]  # type: ignore[operator, no-any-return]


def _check(model: torch.nn.Module, tokenizer: object, texts: list[str]) -> None:
    model.eval()
    before, old_ids = _logits(model, tokenizer, texts), _old_ids(tokenizer, texts)
    pieces_before = len(tokenizer)  # type: ignore[arg-type]
    frozen = not model.get_input_embeddings().weight.requires_grad  # type: ignore[operator]
    rng = torch.get_rng_state()
    new_tok, info = trim_vocabulary(model, tokenizer, texts)
    # Trimming draws no random numbers: a trimmed run trains like the untrimmed one (same dropout).
    assert torch.equal(torch.get_rng_state(), rng)
    assert (not model.get_input_embeddings().weight.requires_grad) == frozen  # type: ignore[operator]
    new_ids = _old_ids(new_tok, texts)
    for old, new in zip(old_ids, new_ids, strict=True):
        # The same pieces, each with its new id.
        assert tokenizer.convert_ids_to_tokens(old) == new_tok.convert_ids_to_tokens(new)  # type: ignore[attr-defined]
    # Ids are renumbered 0..n-1 in the old order (specials first for these tokenizers).
    used = sorted({i for ids in old_ids for i in ids})
    remapped = [new_tok.convert_tokens_to_ids(tokenizer.convert_ids_to_tokens(i)) for i in used]  # type: ignore[attr-defined]
    assert remapped == sorted(remapped) and max(remapped) < len(new_tok)
    assert info.pieces_before == pieces_before and info.pieces_after < pieces_before
    assert model.get_input_embeddings().num_embeddings == info.pieces_after == len(new_tok)  # type: ignore[operator]
    assert info.params_after < info.params_before
    assert getattr(model.config, CONFIG_KEY)["pieces_after"] == info.pieces_after
    # An untrained model gives the same logits on the corpus.
    torch.testing.assert_close(_logits(model, new_tok, texts), before)
    # A word that was never seen reads as the unknown token.
    unseen = new_tok("xylophone")["input_ids"]
    assert new_tok.unk_token_id in unseen


def test_trim_wordpiece_tiny_student_keeps_outputs() -> None:
    model, tokenizer = load_classifier("xlt-distill/tiny-random-bert", ["a", "b", "c"])
    _check(model, tokenizer, CORPUS)


def _unigram_student(tmp_path: Path) -> tuple[torch.nn.Module, object]:
    """A small SentencePiece-style Unigram tokenizer (as e5's) and a tiny BERT over its vocabulary."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram

    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    words = "▁the ▁movie ▁is ▁good ▁il ▁film ▁bel lo ▁ciao ▁come ▁sta i ▁love ▁music ▁book s ▁ , ! ?".split()
    pieces += [(w, -2.0 - 0.1 * i) for i, w in enumerate(words)]
    pieces += [(c, -8.0) for c in "abcdefghijklmnopqrstuvwxyzè0123456789▁"]
    pieces += [(c + d, -9.5) for c in "aeiou" for d in "lmnrst"]  # never used: trimmed away
    tok = Tokenizer(Unigram(pieces, 3, False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
    )
    fast.save_pretrained(str(tmp_path / "tok"))
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        pad_token_id=1,
        num_labels=3,
    )
    torch.manual_seed(0)
    return BertForSequenceClassification(config), tokenizer


def test_trim_unigram_keeps_segmentation_and_outputs(tmp_path: Path) -> None:
    model, tokenizer = _unigram_student(tmp_path)
    spec = json.loads(tokenizer.backend_tokenizer.to_str())  # type: ignore[attr-defined]
    assert spec["model"]["type"] == "Unigram"
    _check(model, tokenizer, [*CORPUS, "books are good"])


def test_trim_refuses_bpe(tmp_path: Path) -> None:
    from tokenizers import Tokenizer
    from tokenizers.models import BPE

    vocab = {"<unk>": 0, "a": 1, "b": 2, "ab": 3}
    tok = Tokenizer(BPE(vocab=vocab, merges=[("a", "b")], unk_token="<unk>"))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<unk>")
    config = BertConfig(
        vocab_size=4,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=8,
        pad_token_id=0,
    )
    model = BertForSequenceClassification(config)
    with pytest.raises(DistillError, match="BPE") as err:
        trim_vocabulary(model, fast, ["ab", "a"])
    assert "trim_vocab=false" in (err.value.fix or "")
    assert model.get_input_embeddings().num_embeddings == 4  # untouched
