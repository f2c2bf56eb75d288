"""The training objective: a weighted sum of the loss terms, each term also returned for logging."""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from distill.errors import DistillError
from distill.losses._kl import check_temperature
from distill.utils.config import build, config_dir

#: The registry of the standard terms: name -> ``{_target_: ..., constructor arguments}``.
STANDARD_TERMS_FILE = config_dir() / "loss" / "terms" / "standard.yaml"
#: Arguments that only the built models know; a term's spec asks for one with a ``null`` value.
RUNTIME_ARGS = ("student_dim", "teacher_dim")


def standard_terms(temperature: float) -> dict[str, dict[str, Any]]:
    """The term specs of ``conf/loss/terms/standard.yaml``, ``${...temperature}`` resolved."""
    # Wrapped as the loss node the file is composed into, so its relative interpolations resolve.
    node = OmegaConf.create({"temperature": temperature, "terms": OmegaConf.load(STANDARD_TERMS_FILE)})
    specs = OmegaConf.to_container(node.terms, resolve=True)
    assert isinstance(specs, dict)
    return {str(name): spec for name, spec in specs.items()}


#: The standard term names, in registry order (the keys of ``conf/loss/terms/standard.yaml``).
TERM_NAMES: tuple[str, ...] = tuple(standard_terms(1.0))


def term_names(loss: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The names of a run's registered terms: the keys of ``loss.terms``, else :data:`TERM_NAMES`.

    Args:
        loss: The run's ``loss`` config node (``cfg.loss``); ``None`` for the standard terms.
    """
    terms = (loss or {}).get("terms")
    return tuple(str(name) for name in terms) if terms else TERM_NAMES


@dataclass(frozen=True)
class LossOutput:
    """What :class:`WeightedDistillationLoss` returns.

    Attributes:
        total: The scalar to call ``backward()`` on: ``sum_k weight_k * term_k``.
        terms: Every *computed* term, **unweighted**, by name (``"kd"``, ``"back"``, ...); terms
            with weight 0 are absent. Still attached to the graph.
        weighted: The same terms multiplied by their weights (they sum to ``total``).
    """

    total: Tensor
    terms: dict[str, Tensor]
    weighted: dict[str, Tensor]

    def to_log(self, prefix: str = "train") -> dict[str, Tensor]:
        """Detached scalars for ``LightningModule.log_dict``: ``{prefix}/loss`` and ``{prefix}/<term>``.

        The per-term entries are the unweighted values, so runs with different weights can be
        compared term by term; ``{prefix}/loss`` is the weighted total.
        """
        logs = {f"{prefix}/loss": self.total.detach()}
        logs.update({f"{prefix}/{name}": value.detach() for name, value in self.terms.items()})
        return logs


def _check_weight(name: str, value: Any) -> float:
    key = f"loss.weights.{name}"
    fix = f"set {key} to a number >= 0 (0 turns the term off)"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DistillError(f"{key} must be a number, got {value!r}", fix=fix)
    if not math.isfinite(value) or value < 0:
        raise DistillError(f"{key} must be a finite number >= 0, got {value!r}", fix=fix)
    return float(value)


def _check_named_weights(weights: Mapping[str, Any], known: Sequence[str]) -> dict[str, float]:
    """Every weight as a float (see :func:`_check_weight`); each name must be one of ``known``."""
    checked = {name: _check_weight(name, value) for name, value in weights.items()}
    for name in checked:
        if name not in known:
            raise DistillError(
                f"loss.weights.{name} names no loss term",
                fix=f"use one of {list(known)} (check the spelling)",
            )
    return checked


def _check_weights(terms: Mapping[str, nn.Module], weights: Mapping[str, Any]) -> dict[str, float]:
    """Validate ``weights`` against ``terms``; return them as floats, in the order of ``terms``."""
    checked = _check_named_weights(weights, sorted(terms))
    for name in terms:
        if name not in checked:
            raise DistillError(
                f"loss.weights.{name} is missing for the loss term {name!r}",
                fix=f"add loss.weights.{name}=<weight> (0 turns the term off)",
            )
    if not any(checked.values()):
        raise DistillError(
            "every loss weight is 0, so there is nothing to train",
            fix="set at least one of loss.weights.* > 0, e.g. loss.weights.kd=1.0",
        )
    return {name: checked[name] for name in terms}


def _term_spec(name: str, spec: Any, runtime: Mapping[str, int | None]) -> DictConfig:
    """``loss.terms.<name>`` as a node to instantiate, its ``null`` runtime arguments filled in.

    Raises:
        DistillError: ``spec`` has no ``_target_``, or a runtime argument it asks for is ``None``.
    """
    if not isinstance(spec, Mapping) or "_target_" not in spec:
        raise DistillError(
            f"loss.terms.{name} must be a mapping with a _target_, got {spec!r}",
            fix=f"set loss.terms.{name}._target_=<module>.<LossClass> (see conf/loss/terms/standard.yaml)",
        )
    node = OmegaConf.create(dict(spec))
    asked = [key for key in RUNTIME_ARGS if key in node and node[key] is None]
    for key in asked:
        node[key] = runtime[key]
    if any(node[key] is None for key in asked):
        raise DistillError(
            f"loss.weights.{name} > 0 needs the student's and the teacher's embedding sizes",
            fix=f"pass student_dim= and teacher_dim=, or set loss.weights.{name}=0",
        )
    return node


def _build_term(name: str, node: DictConfig) -> nn.Module:
    """Instantiate one term and check that it follows the term protocol (see the class docstring)."""
    term = build(node, f"loss.terms.{name}")
    if not isinstance(term, nn.Module) or getattr(term, "batch_keys", None) is None:
        raise DistillError(
            f"loss.terms.{name} ({node._target_}) is not a loss term: it must be a torch.nn.Module "
            "with a batch_keys class attribute",
            fix="give the class `batch_keys = (...)` (the batch keys its forward takes, in order) "
            "and `mask_key = ...` (a bool row-mask key, or None)",
        )
    return term


class WeightedDistillationLoss(nn.Module):
    """The total distillation objective and its parts.

    .. math::

        L = \\alpha L_{kd} + \\beta_{back} L_{back} + \\beta_{cycle} L_{cycle}
          + \\beta_{rt} L_{rt} + \\gamma L_{ce} + \\delta L_{emb}

    with the weights read from ``loss.weights.<name>`` and the terms registered under
    ``loss.terms.<name>`` (``conf/loss/terms/standard.yaml``: ``kd``, ``back``, ``cycle``,
    ``roundtrip``, ``ce``, ``emb``; a run may add its own). A term with weight 0 is neither built
    (by :meth:`from_config`) nor registered nor computed, so its inputs may be absent from the
    batch and its parameters (the ``emb`` projection) never reach the optimizer.

    **The term protocol.** A term is an ``nn.Module`` whose class declares ``batch_keys`` (the
    batch keys its ``forward`` takes, in argument order) and ``mask_key`` (the key of an optional
    per-row bool keep-mask, or ``None``); it is called as
    ``term(*(batch[k] for k in batch_keys), mask=batch.get(mask_key))`` (``mask=None`` when there is
    no mask key or no such tensor) and returns a scalar. A term that also declares ``weight_key``
    (``kd``: ``teacher_weight``) gets ``weight=batch[weight_key]`` as well when the batch holds it:
    per-row weights, e.g. how sure a projected word label is. The standard terms read:

    ============  ==============================================================  ==================
    term          tensors (shapes)                                                mask key
    ============  ==============================================================  ==================
    ``kd``        ``student_tgt_logits`` (B, C), ``teacher_logits`` (B, C)        ``teacher_mask``
    ``back``      ``student_src_logits`` (B, C), ``teacher_src_logits`` (B, C)    ``teacher_mask``
    ``cycle``     ``student_tgt_logits`` (B, C), ``student_src_logits`` (B, C)    ``pair_mask``
    ``roundtrip`` ``student_tgt_logits`` (B, C), ``teacher_roundtrip_logits``     ``roundtrip_mask``
    ``ce``        ``student_tgt_logits`` (B, C), ``labels`` (B,) with -100 = none  --
    ``emb``       ``student_tgt_emb``, ``student_src_emb`` (B, D_S),              ``teacher_mask``
                  ``teacher_emb`` (B, D_T)
    ============  ==============================================================  ==================

    ``input_keys`` / ``mask_keys`` override these per term name (and are required for a custom
    term module without ``batch_keys``). A key that an active term needs but the batch lacks (or
    holds ``None`` for) raises :class:`DistillError` naming the key and the term.
    :attr:`required_keys` lists the keys the active terms read, so a training step can skip
    computing, e.g., ``S(x_s)`` when no active term uses ``student_src_logits``.

    **Output.** A :class:`LossOutput`: ``total`` (weighted sum, for ``backward``), ``terms``
    (unweighted values by name) and ``weighted`` (weight * value). In a ``LightningModule``::

        self.loss = hydra.utils.instantiate(cfg.loss)  # from_config(temperature, weights, terms)
        ...
        out = self.loss(batch)  # batch: the data batch plus the student's outputs
        self.log_dict(out.to_log("train"))  # train/loss, train/kd, train/back, ...
        return out.total

    Register it as a submodule (``self.loss = ...``) so the ``emb`` projection is trained and
    moved to the device with the model.

    Args:
        terms: Loss modules by name, e.g. ``{"kd": KDLoss(2.0), "ce": CrossEntropyLoss()}``.
        weights: A weight >= 0 for every name in ``terms`` (config keys ``loss.weights.<name>``).
        input_keys: Optional per-name override of the term's ``batch_keys``.
        mask_keys: Optional per-name override of the term's ``mask_key`` (``None`` = no mask).

    Raises:
        DistillError: A weight is negative, not finite or not a number (names
            ``loss.weights.<name>``), a weight has no term or a term has no weight, or every
            weight is 0.
        TypeError: An active term has no ``batch_keys`` and no ``input_keys`` entry.

    Example:
        >>> import torch
        >>> from distill.losses import WeightedDistillationLoss
        >>> loss_fn = WeightedDistillationLoss.from_config(
        ...     temperature=1.0, weights={"kd": 1.0, "back": 0.5, "cycle": 0.0, "ce": 1.0}
        ... )
        >>> sorted(loss_fn.terms)  # cycle has weight 0: not built, not computed
        ['back', 'ce', 'kd']
        >>> batch = {
        ...     "student_tgt_logits": torch.tensor([[0.5, 1.0, 1.5], [2.0, 0.0, -1.0]], requires_grad=True),
        ...     "student_src_logits": torch.tensor([[1.5, 0.0, 0.2], [0.3, 0.3, 1.0]], requires_grad=True),
        ...     "teacher_logits": torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]),
        ...     "teacher_src_logits": torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]),
        ...     "labels": torch.tensor([1, -100]),
        ... }
        >>> out = loss_fn(batch)
        >>> out.total.backward()
        >>> sorted(out.to_log("train"))
        ['train/back', 'train/ce', 'train/kd', 'train/loss']
        >>> manual = out.terms["kd"] + 0.5 * out.terms["back"] + out.terms["ce"]
        >>> bool(torch.isclose(out.total, manual))
        True
    """

    def __init__(
        self,
        terms: Mapping[str, nn.Module],
        weights: Mapping[str, float],
        input_keys: Mapping[str, Sequence[str]] | None = None,
        mask_keys: Mapping[str, str | None] | None = None,
    ) -> None:
        super().__init__()
        #: Every weight by term name, zeros included.
        self.weights: dict[str, float] = _check_weights(terms, weights)
        active = {name: term for name, term in terms.items() if self.weights[name] > 0}
        # Only active terms are registered: an unused emb projection would otherwise be an
        # optimizer parameter that never gets a gradient (and upsets DDP).
        self.terms = nn.ModuleDict(active)
        self.input_keys: dict[str, tuple[str, ...]] = {}
        self.mask_keys: dict[str, str | None] = {}
        for name, term in active.items():
            self.input_keys[name] = self._resolve_keys(name, term, input_keys or {})
            override = mask_keys or {}
            self.mask_keys[name] = override[name] if name in override else getattr(term, "mask_key", None)

    @staticmethod
    def _resolve_keys(name: str, term: nn.Module, overrides: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
        keys = overrides.get(name, getattr(term, "batch_keys", None))
        if keys is None:
            raise TypeError(
                f"loss term {name!r} ({type(term).__name__}) has no batch_keys; "
                f"pass input_keys={{{name!r}: [...]}}"
            )
        return tuple(keys)

    @classmethod
    def from_config(
        cls,
        temperature: float,
        weights: Mapping[str, float],
        terms: Mapping[str, Any] | None = None,
        *,
        student_dim: int | None = None,
        teacher_dim: int | None = None,
        mask_keys: Mapping[str, str | None] | None = None,
    ) -> WeightedDistillationLoss:
        """Build the registered terms that have a weight > 0 (the ``_target_`` of ``conf/loss/*.yaml``).

        Args:
            temperature: ``loss.temperature``; the standard KL terms read it through
                ``${...temperature}`` in their specs.
            weights: ``loss.weights``: a weight >= 0 per term name; terms with weight 0 (or not
                named) are not built.
            terms: ``loss.terms``: name -> ``{_target_: ..., arguments}``, in summation order;
                ``None`` for the standard terms (:data:`STANDARD_TERMS_FILE`).
            student_dim: Student embedding size, for the specs with ``student_dim: null`` (``emb``);
                needed only when such a term has a weight > 0.
            teacher_dim: Teacher embedding size, likewise.
            mask_keys: Per-name override of the terms' ``mask_key`` (a task whose rows for a term
                have their own mask, e.g. the token task's source words for ``back``).

        Raises:
            DistillError: An unknown term name, a bad weight or temperature (naming the config
                key), a term asking for ``student_dim``/``teacher_dim`` without both given, or a
                ``_target_`` that is no loss term.
        """
        # Checked even when only ``ce``/``emb`` are on, so a bad value never waits for a later config.
        temperature = check_temperature(temperature)
        specs: Mapping[str, Any] = standard_terms(temperature) if terms is None else terms
        checked = _check_named_weights(weights, [str(name) for name in specs])
        active = [str(name) for name in specs if checked.get(str(name), 0.0) > 0]
        runtime = {"student_dim": student_dim, "teacher_dim": teacher_dim}
        nodes = {name: _term_spec(name, specs[name], runtime) for name in active}
        built = {name: _build_term(name, node) for name, node in nodes.items()}
        return cls(built, {name: checked[name] for name in active}, mask_keys=mask_keys)

    @property
    def required_keys(self) -> frozenset[str]:
        """The batch keys the active terms read (masks not included: they are optional)."""
        return frozenset(key for keys in self.input_keys.values() for key in keys)

    def _require(self, batch: Mapping[str, Any], name: str, key: str) -> Tensor:
        value = batch.get(key)
        if value is None:
            present = sorted(k for k, v in batch.items() if v is not None)
            raise DistillError(
                f"loss term {name!r} (loss.weights.{name}={self.weights[name]}) needs the batch key "
                f"{key!r}, which is missing; the batch has {present}",
                fix=f"set loss.weights.{name}=0, or make the training step put {key!r} in the batch",
            )
        return value

    def forward(self, batch: Mapping[str, Any]) -> LossOutput:
        """Compute every active term and their weighted sum.

        Args:
            batch: Tensors by key (see the class docstring); extra keys are ignored.

        Returns:
            ``LossOutput(total, terms, weighted)``; ``terms`` holds the unweighted values.
        """
        terms: dict[str, Tensor] = {}
        weighted: dict[str, Tensor] = {}
        for name, term in self.terms.items():
            inputs = [self._require(batch, name, key) for key in self.input_keys[name]]
            mask_key = self.mask_keys[name]
            mask = batch.get(mask_key) if mask_key is not None else None
            weight_key = getattr(term, "weight_key", None)
            if weight_key is not None and batch.get(weight_key) is not None:
                terms[name] = term(*inputs, mask=mask, weight=batch[weight_key])
            else:
                terms[name] = term(*inputs, mask=mask)
            weighted[name] = self.weights[name] * terms[name]
        # Python addition (not torch.stack) so terms of different dtypes promote instead of failing.
        total = functools.reduce(operator.add, weighted.values())
        return LossOutput(total=total, terms=terms, weighted=weighted)

    def extra_repr(self) -> str:
        return "weights=" + ", ".join(f"{name}={weight:g}" for name, weight in self.weights.items())
