"""Loss terms against values computed by hand (plain ``math``) from their formulas.

Expected numbers never come from the torch code under test: the helpers below re-derive softmax,
KL, cross-entropy and MSE in pure Python on tiny 2x3 logit tensors.
"""

from __future__ import annotations

import doctest
import importlib
import math
from collections.abc import Callable, Sequence

import pytest
import torch
from torch import Tensor, nn

from distill.errors import DistillError
from distill.losses import (
    TERM_NAMES,
    BackTransferLoss,
    CrossEntropyLoss,
    CycleConsistencyLoss,
    EmbeddingDistillationLoss,
    KDLoss,
    LossOutput,
    RoundTripLoss,
    WeightedDistillationLoss,
    tempered_kl,
)

Rows = Sequence[Sequence[float]]

# Teacher on x_s, student on x_t, student on x_s, teacher on the back-translation x_s'.
Z_TEACHER: list[list[float]] = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
Z_TGT: list[list[float]] = [[0.5, 1.0, 1.5], [2.0, 0.0, -1.0]]
Z_SRC: list[list[float]] = [[1.5, 0.0, 0.2], [0.3, 0.3, 1.0]]
Z_ROUNDTRIP: list[list[float]] = [[0.8, 1.5, 1.0], [1.0, 0.5, 0.0]]

# Regression constants (torchdistill-style), computed once with the pure-Python helpers below
# from the formulas; they pin the numbers so a refactor of either side cannot drift silently.
STORED = {
    "kd_tau1": 1.529173712,  # 1 * mean_b KL(p(Z_TEACHER) || p(Z_TGT))
    "kd_tau2": 2.007081645,  # 4 * mean_b KL(p(Z_TEACHER / 2) || p(Z_TGT / 2))
    "back_tau1": 0.5408853942,  # mean_b KL(p(Z_TEACHER) || p(Z_SRC))
    "cycle_tau1": 0.7581576929,  # 0.5 * [KL(p(Z_TGT) || p(Z_SRC)) + KL(p(Z_SRC) || p(Z_TGT))]
    "cycle_tau2": 0.8403818368,
    "roundtrip_tau2": 0.2373617358,  # 4 * mean_b KL(p(Z_ROUNDTRIP / 2) || p(Z_TGT / 2))
    "ce_labels_1_0": 0.6750578451,  # mean(-log p(Z_TGT[0])[1], -log p(Z_TGT[1])[0])
}


# --- pure-Python reference formulas -------------------------------------------------------------


def softmax(row: Sequence[float], tau: float = 1.0) -> list[float]:
    top = max(row)
    exps = [math.exp((x - top) / tau) for x in row]
    total = sum(exps)
    return [e / total for e in exps]


def kl(p: Sequence[float], q: Sequence[float]) -> float:
    """KL(p || q) = sum_c p_c log(p_c / q_c)."""
    return sum(pc * math.log(pc / qc) for pc, qc in zip(p, q, strict=True))


def hand_tempered_kl(target: Rows, inputs: Rows, tau: float, keep: Sequence[bool] | None = None) -> float:
    """tau^2 * mean over kept rows of KL(softmax(target / tau) || softmax(inputs / tau))."""
    rows = [
        kl(softmax(t, tau), softmax(i, tau))
        for b, (t, i) in enumerate(zip(target, inputs, strict=True))
        if keep is None or keep[b]
    ]
    return tau * tau * sum(rows) / len(rows) if rows else 0.0


def hand_cycle(z_tgt: Rows, z_src: Rows, tau: float) -> float:
    return 0.5 * (hand_tempered_kl(z_tgt, z_src, tau) + hand_tempered_kl(z_src, z_tgt, tau))


def hand_ce(logits: Rows, labels: Sequence[int]) -> float:
    terms = [-math.log(softmax(row)[y]) for row, y in zip(logits, labels, strict=True) if y != -100]
    return sum(terms) / len(terms) if terms else 0.0


def hand_mse(a: Rows, b: Rows) -> float:
    diffs = [(x - y) ** 2 for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True)]
    return sum(diffs) / len(diffs)


def t(rows: Rows, grad: bool = False, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.tensor(rows, dtype=dtype, requires_grad=grad)


def approx(value: Tensor, expected: float, rel: float = 1e-5) -> bool:
    return value.item() == pytest.approx(expected, rel=rel, abs=1e-7)


# The four KL terms as (constructor, call(loss, z_teacher, z_tgt, z_src, z_rt, mask), hand formula).
KLCase = tuple[
    Callable[[float], nn.Module],
    Callable[..., Tensor],
    Callable[[float, Sequence[bool] | None], float],
]
KL_CASES: dict[str, KLCase] = {
    "kd": (
        KDLoss,
        lambda loss, zt, tgt, src, rt, mask=None: loss(tgt, zt, mask=mask),
        lambda tau, keep: hand_tempered_kl(Z_TEACHER, Z_TGT, tau, keep),
    ),
    "back": (
        BackTransferLoss,
        lambda loss, zt, tgt, src, rt, mask=None: loss(src, zt, mask=mask),
        lambda tau, keep: hand_tempered_kl(Z_TEACHER, Z_SRC, tau, keep),
    ),
    "cycle": (
        CycleConsistencyLoss,
        lambda loss, zt, tgt, src, rt, mask=None: loss(tgt, src, mask=mask),
        lambda tau, keep: (
            0.5 * (hand_tempered_kl(Z_TGT, Z_SRC, tau, keep) + hand_tempered_kl(Z_SRC, Z_TGT, tau, keep))
        ),
    ),
    "roundtrip": (
        RoundTripLoss,
        lambda loss, zt, tgt, src, rt, mask=None: loss(tgt, rt, mask=mask),
        lambda tau, keep: hand_tempered_kl(Z_ROUNDTRIP, Z_TGT, tau, keep),
    ),
}


def call_kl_case(name: str, tau: float, mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Run KL term ``name`` on the fixed logits; return (loss, z_tgt, z_src) with grads enabled."""
    make, call, _ = KL_CASES[name]
    z_tgt, z_src = t(Z_TGT, grad=True), t(Z_SRC, grad=True)
    loss = call(make(tau), t(Z_TEACHER), z_tgt, z_src, t(Z_ROUNDTRIP), mask=mask)
    return loss, z_tgt, z_src


# --- the four KL terms ----------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [1.0, 2.0, 4.0])
@pytest.mark.parametrize("name", list(KL_CASES))
def test_kl_terms_match_hand_values(name: str, tau: float) -> None:
    loss, _, _ = call_kl_case(name, tau)
    assert loss.dim() == 0
    assert approx(loss, KL_CASES[name][2](tau, None))


@pytest.mark.parametrize(
    ("name", "tau", "key"),
    [
        ("kd", 1.0, "kd_tau1"),
        ("kd", 2.0, "kd_tau2"),
        ("back", 1.0, "back_tau1"),
        ("cycle", 1.0, "cycle_tau1"),
        ("cycle", 2.0, "cycle_tau2"),
        ("roundtrip", 2.0, "roundtrip_tau2"),
    ],
)
def test_kl_terms_match_stored_constants(name: str, tau: float, key: str) -> None:
    loss, _, _ = call_kl_case(name, tau)
    assert loss.item() == pytest.approx(STORED[key], rel=1e-6)
    # The stored constant is also what the hand formula gives (guards the constant itself).
    assert KL_CASES[name][2](tau, None) == pytest.approx(STORED[key], rel=1e-8)


def test_kd_tau_squared_scaling() -> None:
    # Written out without the helper: softmax of z / 2, batch mean of KL, times tau^2 = 4.
    direct = 0.0
    for zt, zs in zip(Z_TEACHER, Z_TGT, strict=True):
        p = [math.exp(x / 2) / sum(math.exp(v / 2) for v in zt) for x in zt]
        q = [math.exp(x / 2) / sum(math.exp(v / 2) for v in zs) for x in zs]
        direct += sum(pc * math.log(pc / qc) for pc, qc in zip(p, q, strict=True)) / 2
    value = KDLoss(temperature=2.0)(t(Z_TGT), t(Z_TEACHER))
    assert approx(value, 4.0 * direct)
    assert not approx(value, direct)  # the factor is really applied


@pytest.mark.parametrize(
    ("teacher", "student"),
    [
        (Z_TEACHER, Z_TGT),
        ([[5.0, 0.0, 0.0], [2.0, 1.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),  # peaked vs flat
    ],
)
def test_kd_direction_is_teacher_to_student(teacher: Rows, student: Rows) -> None:
    forward = hand_tempered_kl(teacher, student, 1.0)  # KL(p_T || p_S)
    reverse = hand_tempered_kl(student, teacher, 1.0)  # KL(p_S || p_T)
    assert abs(forward - reverse) > 0.05  # asymmetric enough to tell the directions apart
    value = KDLoss(1.0)(t(student), t(teacher))
    assert approx(value, forward)
    assert not approx(value, reverse)


@pytest.mark.parametrize(("cls", "target"), [(BackTransferLoss, Z_TEACHER), (RoundTripLoss, Z_ROUNDTRIP)])
def test_teacher_terms_direction(cls: Callable[[float], nn.Module], target: Rows) -> None:
    student = Z_SRC if cls is BackTransferLoss else Z_TGT
    value = cls(1.0)(t(student), t(target))
    assert approx(value, hand_tempered_kl(target, student, 1.0))
    assert not approx(value, hand_tempered_kl(student, target, 1.0))


def test_back_uses_source_side_student() -> None:
    # Same teacher, different student side: back must differ from kd on these inputs.
    back = BackTransferLoss(1.0)(t(Z_SRC), t(Z_TEACHER))
    kd = KDLoss(1.0)(t(Z_TGT), t(Z_TEACHER))
    assert approx(back, hand_tempered_kl(Z_TEACHER, Z_SRC, 1.0))
    assert not approx(back, kd.item())


@pytest.mark.parametrize("tau", [1.0, 3.0])
@pytest.mark.parametrize("name", list(KL_CASES))
def test_kl_terms_zero_when_student_equals_target(name: str, tau: float) -> None:
    make, call, _ = KL_CASES[name]
    same = t(Z_TEACHER, grad=True)
    value = call(make(tau), t(Z_TEACHER), same, same, t(Z_TEACHER))
    assert abs(value.item()) < 1e-6
    value.backward()
    assert same.grad is not None and torch.allclose(same.grad, torch.zeros(2, 3), atol=1e-6)


@pytest.mark.parametrize("tau", [1.0, 2.0])
def test_kd_gradient_matches_hand_derivation(tau: float) -> None:
    # d/dz_t [tau^2 / B * sum_b KL(p_T || softmax(z_t / tau))] = tau / B * (p_t - p_T).
    teacher = t(Z_TEACHER, grad=True)  # a live teacher tensor must still get no gradient
    z_tgt = t(Z_TGT, grad=True)
    KDLoss(tau)(z_tgt, teacher).backward()
    expected = [
        [tau / 2 * (ps - pt) for ps, pt in zip(softmax(s, tau), softmax(te, tau), strict=True)]
        for s, te in zip(Z_TGT, Z_TEACHER, strict=True)
    ]
    assert z_tgt.grad is not None and torch.allclose(z_tgt.grad, torch.tensor(expected), atol=1e-6)
    assert teacher.grad is None


# --- cycle: stop-gradient ------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [1.0, 2.0])
def test_cycle_gradients_match_stop_gradient_derivation(tau: float) -> None:
    # With sg on each target: dL/dz_s = tau/2/B (p_s - p_t) from the first term only, and
    # dL/dz_t = tau/2/B (p_t - p_s) from the second only (B = 2).
    z_tgt, z_src = t(Z_TGT, grad=True), t(Z_SRC, grad=True)
    CycleConsistencyLoss(tau)(z_tgt, z_src).backward()
    p_t = [softmax(r, tau) for r in Z_TGT]
    p_s = [softmax(r, tau) for r in Z_SRC]
    grad_src = [
        [tau / 4 * (s - g) for s, g in zip(rs, rt, strict=True)] for rs, rt in zip(p_s, p_t, strict=True)
    ]
    grad_tgt = [
        [tau / 4 * (g - s) for s, g in zip(rs, rt, strict=True)] for rs, rt in zip(p_s, p_t, strict=True)
    ]
    assert z_src.grad is not None and torch.allclose(z_src.grad, torch.tensor(grad_src), atol=1e-6)
    assert z_tgt.grad is not None and torch.allclose(z_tgt.grad, torch.tensor(grad_tgt), atol=1e-6)

    # Without stop-gradient the symmetric KL has the same value but other gradients, so the
    # check above really tells the two apart.
    a, b = t(Z_TGT, grad=True), t(Z_SRC, grad=True)
    la, lb = torch.log_softmax(a / tau, -1), torch.log_softmax(b / tau, -1)
    plain = tau**2 * 0.5 * ((la.exp() * (la - lb)).sum(-1) + (lb.exp() * (lb - la)).sum(-1)).mean()
    plain.backward()
    assert plain.item() == pytest.approx(hand_cycle(Z_TGT, Z_SRC, tau), rel=1e-5)
    assert b.grad is not None and not torch.allclose(b.grad, torch.tensor(grad_src), atol=1e-4)


def test_cycle_half_term_sends_no_gradient_to_its_target() -> None:
    # KL(sg p(z_t) || p(z_s)) alone: z_t is the detached target, so only z_s gets a gradient.
    z_tgt, z_src = t(Z_TGT, grad=True), t(Z_SRC, grad=True)
    tempered_kl(z_tgt, z_src, 1.0, detach_target=True).backward()
    assert z_tgt.grad is None
    assert z_src.grad is not None and z_src.grad.abs().sum().item() > 1e-3


def test_tempered_kl_without_detach_reaches_the_target() -> None:
    # The control for the test above: the same call without sg does send a gradient to z_t.
    z_tgt, z_src = t(Z_TGT, grad=True), t(Z_SRC, grad=True)
    tempered_kl(z_tgt, z_src, 1.0, detach_target=False).backward()
    assert z_tgt.grad is not None and z_tgt.grad.abs().sum().item() > 1e-3


def test_cycle_is_symmetric_in_value() -> None:
    loss = CycleConsistencyLoss(1.0)
    ab, ba = loss(t(Z_TGT), t(Z_SRC)), loss(t(Z_SRC), t(Z_TGT))
    assert approx(ab, hand_cycle(Z_TGT, Z_SRC, 1.0))
    assert approx(ba, ab.item())


# --- masking --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(KL_CASES))
def test_mask_excludes_rows(name: str) -> None:
    keep = torch.tensor([True, False])
    loss, z_tgt, z_src = call_kl_case(name, 2.0, mask=keep)
    assert approx(loss, KL_CASES[name][2](2.0, [True, False]))  # the mean over row 0 only
    loss.backward()
    for grad in (z_tgt.grad, z_src.grad):
        if grad is not None:  # kd/roundtrip never touch z_src, back never touches z_tgt
            assert torch.equal(grad[1], torch.zeros(3))


@pytest.mark.parametrize("name", ["kd", "back", "roundtrip"])
def test_masked_rows_can_hold_nan_placeholders(name: str) -> None:
    make, call, hand = KL_CASES[name]
    teacher, roundtrip = t(Z_TEACHER), t(Z_ROUNDTRIP)
    teacher[1], roundtrip[1] = float("nan"), float("nan")  # e.g. a pair without teacher labels
    z_tgt, z_src = t(Z_TGT, grad=True), t(Z_SRC, grad=True)
    loss = call(make(1.0), teacher, z_tgt, z_src, roundtrip, mask=torch.tensor([True, False]))
    loss.backward()
    assert approx(loss, hand(1.0, [True, False]))
    for grad in (z_tgt.grad, z_src.grad):
        assert grad is None or bool(torch.isfinite(grad).all())


@pytest.mark.parametrize("name", list(KL_CASES))
def test_all_masked_is_zero_without_nan(name: str) -> None:
    loss, z_tgt, z_src = call_kl_case(name, 2.0, mask=torch.tensor([False, False]))
    assert loss.item() == 0.0
    assert loss.requires_grad and loss.grad_fn is not None
    loss.backward()
    for grad in (z_tgt.grad, z_src.grad):
        assert grad is None or torch.equal(grad, torch.zeros(2, 3))


def test_all_true_mask_equals_no_mask() -> None:
    with_mask = KDLoss(2.0)(t(Z_TGT), t(Z_TEACHER), mask=torch.tensor([True, True]))
    assert approx(with_mask, hand_tempered_kl(Z_TEACHER, Z_TGT, 2.0))


def test_bad_masks_are_rejected() -> None:
    with pytest.raises(ValueError, match="bool"):
        KDLoss(1.0)(t(Z_TGT), t(Z_TEACHER), mask=torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        KDLoss(1.0)(t(Z_TGT), t(Z_TEACHER), mask=torch.tensor([True, False, True]))


def test_logit_shape_mismatch_names_the_label_set() -> None:
    with pytest.raises(DistillError, match="label set"):
        KDLoss(1.0)(t(Z_TGT), torch.zeros(2, 4))
    with pytest.raises(DistillError, match="batch, classes"):
        KDLoss(1.0)(torch.zeros(3), torch.zeros(3))


def test_half_precision_inputs_are_computed_in_float32() -> None:
    value = KDLoss(2.0)(t(Z_TGT, dtype=torch.bfloat16), t(Z_TEACHER, dtype=torch.float16))
    assert value.dtype == torch.float32
    # bf16 rounds the inputs themselves (1.5 etc. are exact, so only the arithmetic could differ).
    assert approx(value, STORED["kd_tau2"], rel=1e-5)


def test_float64_inputs_stay_float64() -> None:
    value = KDLoss(1.0)(t(Z_TGT, dtype=torch.float64), t(Z_TEACHER, dtype=torch.float64))
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(hand_tempered_kl(Z_TEACHER, Z_TGT, 1.0), rel=1e-12)


# --- temperature validation ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), True, "2.0", None])
@pytest.mark.parametrize("cls", [KDLoss, BackTransferLoss, CycleConsistencyLoss, RoundTripLoss])
def test_bad_temperature_raises_naming_the_key(cls: Callable[[object], nn.Module], bad: object) -> None:
    with pytest.raises(DistillError, match=r"loss\.temperature") as info:
        cls(bad)
    assert info.value.fix is not None and "loss.temperature" in info.value.fix


def test_temperature_is_stored_as_float() -> None:
    loss = KDLoss(2)
    assert loss.temperature == 2.0 and isinstance(loss.temperature, float)
    assert "temperature=2.0" in repr(loss)


# --- cross-entropy -------------------------------------------------------------------------------


@pytest.mark.parametrize("labels", [[1, 0], [2, -100], [-100, 0]])
def test_ce_matches_hand_value_and_ignores_missing(labels: list[int]) -> None:
    value = CrossEntropyLoss()(t(Z_TGT), torch.tensor(labels))
    assert approx(value, hand_ce(Z_TGT, labels))


def test_ce_stored_constant() -> None:
    value = CrossEntropyLoss()(t(Z_TGT), torch.tensor([1, 0]))
    assert value.item() == pytest.approx(STORED["ce_labels_1_0"], rel=1e-6)
    assert hand_ce(Z_TGT, [1, 0]) == pytest.approx(STORED["ce_labels_1_0"], rel=1e-8)


def test_ce_mask_excludes_rows() -> None:
    value = CrossEntropyLoss()(t(Z_TGT), torch.tensor([1, 0]), mask=torch.tensor([False, True]))
    assert approx(value, hand_ce(Z_TGT, [-100, 0]))


def test_ce_missing_label_row_gets_no_gradient() -> None:
    logits = t(Z_TGT, grad=True)
    CrossEntropyLoss()(logits, torch.tensor([2, -100])).backward()
    assert logits.grad is not None
    assert torch.equal(logits.grad[1], torch.zeros(3))
    # d(-log softmax(z)_y)/dz = softmax(z) - onehot(y), for the single kept row (mean over 1).
    expected = [p - (1.0 if c == 2 else 0.0) for c, p in enumerate(softmax(Z_TGT[0]))]
    assert torch.allclose(logits.grad[0], torch.tensor(expected), atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ce_no_gold_label_is_a_differentiable_zero(dtype: torch.dtype) -> None:
    logits = t(Z_TGT, grad=True, dtype=dtype)
    value = CrossEntropyLoss()(logits, torch.tensor([-100, -100]))
    assert value.item() == 0.0
    assert value.dtype == dtype and value.device == logits.device
    assert value.grad_fn is not None
    value.backward()
    assert logits.grad is not None and torch.equal(logits.grad, torch.zeros(2, 3, dtype=dtype))


def test_ce_custom_ignore_index() -> None:
    value = CrossEntropyLoss(ignore_index=-1)(t(Z_TGT), torch.tensor([-1, 0]))
    assert approx(value, hand_ce(Z_TGT, [-100, 0]))


def test_ce_label_out_of_range_is_a_clear_error() -> None:
    with pytest.raises(DistillError, match=r"gold label 3 is outside \[0, 3\)"):
        CrossEntropyLoss()(t(Z_TGT), torch.tensor([3, 0]))
    with pytest.raises(DistillError, match="gold label -5"):
        CrossEntropyLoss()(t(Z_TGT), torch.tensor([-5, 0]))


def test_ce_rejects_float_labels() -> None:
    with pytest.raises(ValueError, match="integer"):
        CrossEntropyLoss()(t(Z_TGT), torch.tensor([1.0, 0.0]))


# --- embeddings ----------------------------------------------------------------------------------

H_TGT = [[1.0, 0.0], [0.0, 1.0]]
H_SRC = [[1.0, 1.0], [0.5, -1.0]]
H_TEACHER_2 = [[1.0, 1.0], [0.0, 0.0]]
H_TEACHER_3 = [[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]]


def test_emb_without_projection_matches_hand_mse() -> None:
    loss_fn = EmbeddingDistillationLoss(student_dim=2, teacher_dim=2)
    assert isinstance(loss_fn.projection, nn.Identity)
    assert list(loss_fn.parameters()) == []
    h_tgt, h_src = t(H_TGT, grad=True), t(H_SRC, grad=True)
    value = loss_fn(h_tgt, h_src, t(H_TEACHER_2))
    # (0 + 1 + 0 + 1) / 4 + (0 + 0 + 0.25 + 1) / 4 = 0.5 + 0.3125
    assert approx(value, 0.8125)
    assert approx(value, hand_mse(H_TGT, H_TEACHER_2) + hand_mse(H_SRC, H_TEACHER_2))
    value.backward()
    # d/dh MSE = 2 (h - teacher) / numel
    assert h_tgt.grad is not None
    assert torch.allclose(h_tgt.grad, torch.tensor([[0.0, -0.5], [0.0, 0.5]]))


def test_emb_with_projection_matches_hand_value() -> None:
    loss_fn = EmbeddingDistillationLoss(student_dim=2, teacher_dim=3)
    assert isinstance(loss_fn.projection, nn.Linear)
    weight = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]  # (D_T, D_S)
    bias = [0.0, 0.0, 0.5]
    with torch.no_grad():
        loss_fn.projection.weight.copy_(torch.tensor(weight))
        loss_fn.projection.bias.copy_(torch.tensor(bias))

    def project(rows: Rows) -> list[list[float]]:
        return [
            [sum(w * x for w, x in zip(wr, r, strict=True)) + b for wr, b in zip(weight, bias, strict=True)]
            for r in rows
        ]

    value = loss_fn(t(H_TGT), t(H_SRC), t(H_TEACHER_3))
    expected = hand_mse(project(H_TGT), H_TEACHER_3) + hand_mse(project(H_SRC), H_TEACHER_3)
    # project(H_TGT) = [[1, 0, 1.5], [0, 1, 1.5]] -> (0+0+0.25+0+0+6.25)/6; H_SRC similarly.
    assert expected == pytest.approx(6.5 / 6 + (0.0 + 1.0 + 0.25 + 0.25 + 4.0 + 1.0) / 6)
    assert approx(value, expected)
    value.backward()
    assert loss_fn.projection.weight.grad is not None
    assert loss_fn.projection.weight.grad.abs().sum().item() > 0


def test_emb_teacher_gets_no_gradient_and_mask_works() -> None:
    loss_fn = EmbeddingDistillationLoss(2, 2)
    teacher = t(H_TEACHER_2, grad=True)
    keep = torch.tensor([True, False])
    value = loss_fn(t(H_TGT, grad=True), t(H_SRC, grad=True), teacher, mask=keep)
    value.backward()
    assert teacher.grad is None
    assert approx(value, hand_mse(H_TGT[:1], H_TEACHER_2[:1]) + hand_mse(H_SRC[:1], H_TEACHER_2[:1]))
    nothing = loss_fn(t(H_TGT, grad=True), t(H_SRC), teacher, mask=torch.tensor([False, False]))
    assert nothing.item() == 0.0 and nothing.grad_fn is not None


def test_emb_shape_and_dim_errors() -> None:
    with pytest.raises(DistillError, match="student_dim"):
        EmbeddingDistillationLoss(0, 3)
    with pytest.raises(DistillError, match=r"student_tgt_emb must have shape \(2, 2\)"):
        EmbeddingDistillationLoss(2, 3)(torch.zeros(2, 3), t(H_SRC), t(H_TEACHER_3))
    with pytest.raises(DistillError, match="teacher_emb"):
        EmbeddingDistillationLoss(2, 3)(t(H_TGT), t(H_SRC), t(H_TEACHER_2))


# --- the weighted total --------------------------------------------------------------------------

WEIGHTS = {"kd": 1.0, "back": 0.5, "cycle": 0.25, "roundtrip": 0.3, "ce": 2.0, "emb": 0.1}


def full_batch() -> dict[str, Tensor]:
    return {
        "student_tgt_logits": t(Z_TGT, grad=True),
        "student_src_logits": t(Z_SRC, grad=True),
        "teacher_logits": t(Z_TEACHER),
        "teacher_src_logits": t(Z_TEACHER),
        "teacher_roundtrip_logits": t(Z_ROUNDTRIP),
        "labels": torch.tensor([1, -100]),
        "student_tgt_emb": t(H_TGT, grad=True),
        "student_src_emb": t(H_SRC, grad=True),
        "teacher_emb": t(H_TEACHER_2),
    }


def test_weighted_total_equals_manual_sum_and_returns_every_term() -> None:
    loss_fn = WeightedDistillationLoss.from_config(2.0, WEIGHTS, student_dim=2, teacher_dim=2)
    batch = full_batch()
    out = loss_fn(batch)
    assert isinstance(out, LossOutput)
    hand = {
        "kd": hand_tempered_kl(Z_TEACHER, Z_TGT, 2.0),
        "back": hand_tempered_kl(Z_TEACHER, Z_SRC, 2.0),
        "cycle": hand_cycle(Z_TGT, Z_SRC, 2.0),
        "roundtrip": hand_tempered_kl(Z_ROUNDTRIP, Z_TGT, 2.0),
        "ce": hand_ce(Z_TGT, [1, -100]),
        "emb": hand_mse(H_TGT, H_TEACHER_2) + hand_mse(H_SRC, H_TEACHER_2),
    }
    assert set(out.terms) == set(out.weighted) == set(TERM_NAMES)
    for name, expected in hand.items():
        assert approx(out.terms[name], expected), name  # unweighted
        assert approx(out.weighted[name], WEIGHTS[name] * expected), name
    assert approx(out.total, sum(WEIGHTS[n] * v for n, v in hand.items()))
    out.total.backward()
    assert batch["student_tgt_logits"].grad is not None and batch["student_src_emb"].grad is not None
    logs = out.to_log("train")
    assert set(logs) == {"train/loss", *(f"train/{n}" for n in TERM_NAMES)}
    assert all(not v.requires_grad for v in logs.values())
    assert logs["train/kd"].item() == pytest.approx(hand["kd"], rel=1e-5)  # logged unweighted


class Exploding(nn.Module):
    """A term that must never be computed."""

    batch_keys = ("nowhere",)
    mask_key = None

    def forward(self, *args: object, mask: Tensor | None = None) -> Tensor:
        raise AssertionError("a term with weight 0 was computed")


def test_zero_weight_terms_are_not_computed_or_registered() -> None:
    loss_fn = WeightedDistillationLoss(
        {"kd": KDLoss(1.0), "boom": Exploding(), "emb": EmbeddingDistillationLoss(2, 3)},
        {"kd": 1.0, "boom": 0.0, "emb": 0.0},
    )
    assert list(loss_fn.terms) == ["kd"]
    assert list(loss_fn.parameters()) == []  # the unused emb projection is not trained
    assert loss_fn.weights == {"kd": 1.0, "boom": 0.0, "emb": 0.0}
    # Inputs of the zero-weight terms ("nowhere", embeddings) are absent: no error.
    out = loss_fn({"student_tgt_logits": t(Z_TGT), "teacher_logits": t(Z_TEACHER)})
    assert list(out.terms) == ["kd"]
    assert approx(out.total, hand_tempered_kl(Z_TEACHER, Z_TGT, 1.0))


def test_from_config_builds_only_weighted_terms() -> None:
    loss_fn = WeightedDistillationLoss.from_config(1.0, {"kd": 1.0, "cycle": 0.0, "emb": 0})
    assert list(loss_fn.terms) == ["kd"]  # emb off: no dims needed
    assert loss_fn.required_keys == {"student_tgt_logits", "teacher_logits"}
    full = WeightedDistillationLoss.from_config(1.0, WEIGHTS, student_dim=2, teacher_dim=3)
    assert set(full.terms) == set(TERM_NAMES)
    assert "teacher_roundtrip_logits" in full.required_keys and "labels" in full.required_keys


def test_missing_batch_key_names_the_key_and_term() -> None:
    loss_fn = WeightedDistillationLoss.from_config(1.0, {"kd": 1.0, "back": 0.5})
    batch = {
        "student_tgt_logits": t(Z_TGT),
        "teacher_logits": t(Z_TEACHER),
        "teacher_src_logits": t(Z_TEACHER),
        "student_src_logits": None,
    }
    with pytest.raises(DistillError, match="'student_src_logits'") as info:
        loss_fn(batch)
    assert "loss.weights.back" in str(info.value)
    assert info.value.fix is not None and "loss.weights.back=0" in info.value.fix


def test_batch_masks_are_applied_by_key() -> None:
    loss_fn = WeightedDistillationLoss.from_config(1.0, {"kd": 1.0, "cycle": 1.0})
    batch = {
        "student_tgt_logits": t(Z_TGT),
        "student_src_logits": t(Z_SRC),
        "teacher_logits": t(Z_TEACHER),
        "teacher_mask": torch.tensor([False, True]),  # kd: row 1 only; cycle reads pair_mask
    }
    out = loss_fn(batch)
    assert approx(out.terms["kd"], hand_tempered_kl(Z_TEACHER, Z_TGT, 1.0, [False, True]))
    assert approx(out.terms["cycle"], hand_cycle(Z_TGT, Z_SRC, 1.0))


def test_input_and_mask_key_overrides() -> None:
    loss_fn = WeightedDistillationLoss(
        {"ce": CrossEntropyLoss()},
        {"ce": 1.0},
        input_keys={"ce": ["student_src_logits", "gold"]},
        mask_keys={"ce": "gold_mask"},
    )
    batch = {
        "student_src_logits": t(Z_SRC),
        "gold": torch.tensor([2, 0]),
        "gold_mask": torch.tensor([True, False]),
    }
    assert approx(loss_fn(batch).total, hand_ce(Z_SRC, [2, -100]))


def test_custom_term_without_batch_keys_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="batch_keys"):
        WeightedDistillationLoss({"mine": nn.Identity()}, {"mine": 1.0})


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), "1", True, None])
def test_bad_weight_raises_naming_the_key(bad: object) -> None:
    with pytest.raises(DistillError, match=r"loss\.weights\.back") as info:
        WeightedDistillationLoss.from_config(1.0, {"kd": 1.0, "back": bad})  # type: ignore[dict-item]
    assert info.value.fix is not None and "loss.weights.back" in info.value.fix


def test_weight_and_term_names_must_match() -> None:
    with pytest.raises(DistillError, match=r"loss\.weights\.kdd names no loss term"):
        WeightedDistillationLoss.from_config(1.0, {"kdd": 1.0})
    with pytest.raises(DistillError, match=r"loss\.weights\.ce is missing"):
        WeightedDistillationLoss({"kd": KDLoss(), "ce": CrossEntropyLoss()}, {"kd": 1.0})
    with pytest.raises(DistillError, match="names no loss term"):
        WeightedDistillationLoss({"kd": KDLoss()}, {"kd": 1.0, "back": 1.0})


def test_all_zero_weights_and_emb_without_dims_raise() -> None:
    with pytest.raises(DistillError, match="every loss weight is 0"):
        WeightedDistillationLoss.from_config(1.0, {"kd": 0.0, "ce": 0})
    with pytest.raises(DistillError, match=r"loss\.weights\.emb") as info:
        WeightedDistillationLoss.from_config(1.0, {"emb": 1.0}, student_dim=384)
    assert info.value.fix is not None and "teacher_dim" in info.value.fix


def test_from_config_checks_temperature_even_without_kl_terms() -> None:
    with pytest.raises(DistillError, match=r"loss\.temperature"):
        WeightedDistillationLoss.from_config(0.0, {"ce": 1.0})


# --- the docstring examples are runnable ---------------------------------------------------------


@pytest.mark.parametrize("module", ["kd", "back", "cycle", "roundtrip", "ce", "emb", "weighted"])
def test_docstring_examples_run(module: str) -> None:
    mod = importlib.import_module(f"distill.losses.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
