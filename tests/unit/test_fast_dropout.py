"""Dropout with cheap random numbers (distill/models/fast_dropout.py): same distribution, same
gradients, plain outputs in evaluation, padding masks kept, plain exports."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from transformers import AutoModel, BertConfig, BertModel

from distill.models import fast_dropout as fd


@pytest.fixture
def bert() -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        attn_implementation="sdpa",
    )
    return BertModel(config)


def test_masks_drop_at_rate_p_and_follow_the_seed() -> None:
    torch.manual_seed(1)
    a = fd.drop_mask((1000, 1000), 0.1)
    torch.manual_seed(1)
    b = fd.drop_mask((1000, 1000), 0.1)
    c = fd.drop_mask((1000, 1000), 0.1)
    assert a.dtype == torch.bool and a.shape == (1000, 1000)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert abs(a.float().mean().item() - 0.1) < 0.002  # 1e6 draws: sd 0.0003
    assert abs(fd.drop_mask((1001, 999), 0.5).float().mean().item() - 0.5) < 0.003
    assert not fd.drop_mask((1000,), 0.0).any()
    # rows and columns are not correlated: each column drops at about p too
    assert a.float().mean(0).std().item() < 0.02


def test_fast_dropout_scales_the_kept_and_backpropagates_through_them() -> None:
    x = torch.randn(64, 50, requires_grad=True)
    torch.manual_seed(3)
    y = fd.fast_dropout(x, 0.25)
    kept = y != 0
    assert 0.2 < 1 - kept.float().mean().item() < 0.3
    assert torch.allclose(y[kept], x.detach()[kept] / 0.75)
    y.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.75)
    # evaluation and p = 0: the input itself
    assert torch.equal(fd.fast_dropout(x, 0.25, training=False), x)
    assert torch.equal(fd.fast_dropout(x, 0.0), x)


def test_same_expected_value_as_torch_dropout() -> None:
    x = torch.ones(2000, 500)
    torch.manual_seed(0)
    assert fd.fast_dropout(x, 0.1).mean().item() == pytest.approx(1.0, abs=0.005)


def test_encoder_in_evaluation_is_unchanged(bert: BertModel) -> None:
    ids = torch.randint(5, 50, (3, 7))
    mask = torch.ones_like(ids)
    mask[0, 4:] = 0
    bert.eval()
    with torch.no_grad():
        before = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    assert fd.use_fast_dropout(bert) == sum(isinstance(m, nn.Dropout) for m in bert.modules())
    assert all(type(m) is fd.FastDropout for m in bert.modules() if isinstance(m, nn.Dropout))
    assert bert.config._attn_implementation == fd.ATTENTION
    with torch.no_grad():
        after = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.equal(before, after)


def test_training_encoder_equals_eager_attention_under_the_same_masks(
    bert: BertModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under masks that drop nothing (every kept value scaled by 1 / (1 - p)), the encoder with the
    written-out attention gives what transformers' eager attention gives with torch's dropout doing
    the same scaling: same forward on the real tokens (the padding mask is read), same gradients."""
    ids = torch.randint(5, 50, (3, 7))
    mask = torch.ones_like(ids)
    mask[0, 4:] = 0
    mask[2, 2:] = 0
    config = copy.deepcopy(bert.config)
    config._attn_implementation = "eager"
    plain = BertModel(config)
    plain.load_state_dict(bert.state_dict())
    fd.use_fast_dropout(bert)
    calls = []

    def keep_all(shape: tuple[int, ...], p: float, device: str = "cpu") -> torch.Tensor:
        calls.append(tuple(shape))
        return torch.zeros(shape, dtype=torch.bool)

    def scale_only(x: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False):
        return x / (1 - p) if training and p > 0 else x

    monkeypatch.setattr(fd, "drop_mask", keep_all)
    monkeypatch.setattr(nn.functional, "dropout", scale_only)
    bert.train()
    plain.train()
    ours = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    ref = plain(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    assert torch.allclose(ours[real], ref[real], atol=1e-5)
    ours[real].sum().backward()
    ref[real].sum().backward()
    for (name, a), b in zip(bert.named_parameters(), plain.parameters(), strict=True):
        if a.grad is not None:
            assert torch.allclose(a.grad, b.grad, atol=1e-4), name
    # the hidden states' dropouts and each layer's attention probabilities drew their masks here
    assert (3, 4, 7, 7) in calls and (3, 7, 32) in calls


def test_attention_drops_probabilities_with_the_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))
    attend = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    attend[1, :, :, 3:] = False  # the second text has 3 real tokens
    drop = torch.rand(2, 3, 5, 5) < 0.3
    monkeypatch.setattr(fd, "drop_mask", lambda shape, p, device="cpu": drop)
    module = nn.Module().train()
    out, _ = fd.attention(module, q, k, v, attend, dropout=0.3, scaling=0.5)
    scores = (q @ k.transpose(2, 3) * 0.5).masked_fill(~attend, float("-inf"))
    probs = torch.softmax(scores, -1).masked_fill(drop, 0.0) / 0.7
    assert torch.allclose(out, (probs @ v).transpose(1, 2), atol=1e-6)


def test_training_drops_and_the_export_loads_with_plain_transformers(bert: BertModel, tmp_path) -> None:
    ids = torch.randint(5, 50, (2, 6))
    fd.use_fast_dropout(bert)
    bert.train()
    torch.manual_seed(0)
    a = bert(input_ids=ids).last_hidden_state
    b = bert(input_ids=ids).last_hidden_state
    assert not torch.allclose(a, b)  # dropout is on
    torch.manual_seed(0)
    assert torch.equal(a, bert(input_ids=ids).last_hidden_state)  # and follows the seed
    bert.save_pretrained(tmp_path)
    assert fd.ATTENTION not in (tmp_path / "config.json").read_text()
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    bert.eval()
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).last_hidden_state, bert(input_ids=ids).last_hidden_state)
