"""How the label stage runs the teacher (``teacher.precision``), and the parity check of a fast path.

- ``fp32``: torch in float32, the reference (and the default).
- ``bf16``: the same model under ``torch.autocast(dtype=torch.bfloat16)``: matmuls in bfloat16 on
  CPUs with AVX-512 BF16 / AMX (and GPUs); elsewhere it runs, slower than fp32.
- ``onnx``: ONNX Runtime on the teacher exported by :func:`distill.onnx_export.export_onnx` (the
  serving export's exporter), float32.
- ``onnx-int8``: the same with ONNX Runtime's dynamic int8 quantization of the MatMul weights.

Every path reads the same length-sorted batches (:func:`length_sorted_batches`), so a comparison
between them is equal work. A fast path's labels must agree with fp32 on the first ``PARITY_ROWS``
texts it labels (argmax agreement >= :data:`MIN_AGREEMENT`, mean KL(fp32 || fast) <= :data:`MAX_MEAN_KL`);
the figures go into the cache entry's manifest and ``labels.json``, and a path that misses them
stops the run with its figures instead of caching labels the student would learn worse from.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import log_softmax

from distill.cache.fingerprint import TeacherFingerprint
from distill.errors import DistillError
from distill.models.classifier import forward_texts, length_sorted_batches
from distill.utils.atomic import atomic_dir
from distill.utils.hashing import text_sha256
from distill.utils.paths import cache_dir

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "onnx", "onnx-int8")
#: Texts of the first shard the fast path and fp32 both label.
PARITY_ROWS = 512
MIN_AGREEMENT = 0.995
MAX_MEAN_KL = 1e-3


def check_precision(precision: str, *, with_embeddings: bool = False) -> None:
    """Fail on a ``teacher.precision`` the label stage cannot run, with the fix."""
    if precision not in PRECISIONS:
        raise DistillError(
            f"teacher.precision={precision!r} is not one of {', '.join(PRECISIONS)}",
            fix="set teacher.precision=fp32 (the reference), bf16, onnx or onnx-int8",
        )
    if with_embeddings and precision.startswith("onnx"):
        raise DistillError(
            f"teacher.precision={precision} gives logits only, and this run also caches the teacher's "
            "pooled embeddings",
            fix="use teacher.precision=bf16 or fp32 here",
        )


def parity(reference: np.ndarray, fast: np.ndarray, precision: str) -> dict[str, Any]:
    """How the fast path's logits compare with fp32's on the same texts: argmax agreement, mean and
    largest KL(fp32 || fast) of the softmax, largest logit difference, and whether it passes."""
    ref_lp, fast_lp = (log_softmax(np.asarray(x, np.float64), axis=1) for x in (reference, fast))
    kl = (np.exp(ref_lp) * (ref_lp - fast_lp)).sum(axis=1)
    agreement = float(np.mean(reference.argmax(1) == fast.argmax(1))) if len(reference) else 1.0
    mean_kl = float(kl.mean()) if len(kl) else 0.0
    return {
        "precision": precision,
        "rows": len(reference),
        "agreement": agreement,
        "mean_kl": mean_kl,
        "max_kl": float(kl.max()) if len(kl) else 0.0,
        "max_abs_logit_diff": float(np.abs(reference - fast).max()) if len(kl) else 0.0,
        "min_agreement": MIN_AGREEMENT,
        "max_mean_kl": MAX_MEAN_KL,
        "passed": agreement >= MIN_AGREEMENT and mean_kl <= MAX_MEAN_KL,
    }


#: Bumped when the teacher's ONNX export changes, so that no older export is reused.
ONNX_EXPORT_VERSION = 1


def onnx_teacher(teacher_dir: Path, fingerprint: TeacherFingerprint, int8: bool) -> Path:
    """The teacher's ONNX file (``model.onnx`` or ``model_int8.onnx``), exported once into
    ``$DISTILL_CACHE/onnx_teachers/<key>`` (the teacher's weights, config and tokenizer hashes and
    the export version) and reused by every later label stage."""
    from distill.onnx_export import export_onnx

    spec = [ONNX_EXPORT_VERSION, fingerprint.weights, fingerprint.config, fingerprint.tokenizer, int8]
    folder = cache_dir("onnx_teachers", text_sha256(json.dumps(spec))[:32])
    name = "model_int8.onnx" if int8 else "model.onnx"
    if not (folder / name).is_file():
        log.info("teacher.precision: exporting the teacher to ONNX (%s), once", folder)
        with atomic_dir(folder) as tmp:
            export_onnx(teacher_dir, quantize=int8, out=tmp)
    return folder / name


@dataclass
class TeacherForward:
    """The teacher's forward over texts at one precision: ``(logits, pooled embeddings or None)``.

    ``model``/``tokenizer`` are the loaded torch teacher (the fp32 reference of the parity check,
    and the model itself for fp32 and bf16); ``onnx_file`` the exported teacher for the ONNX paths.
    """

    precision: str
    model: Any
    tokenizer: Any
    onnx_file: Path | None = None
    _session: Any = None

    def __call__(self, texts: Sequence[str], **kw: Any) -> tuple[np.ndarray, np.ndarray | None]:
        if self.precision.startswith("onnx"):
            return self._onnx(texts, **kw), None
        context = (
            torch.autocast(next(self.model.parameters()).device.type, dtype=torch.bfloat16)
            if self.precision == "bf16"
            else contextlib.nullcontext()
        )
        with context:
            return forward_texts(self.model, self.tokenizer, texts, **kw)

    def reference(self, texts: Sequence[str], **kw: Any) -> np.ndarray:
        """fp32 torch logits of ``texts`` (the parity check's reference)."""
        return forward_texts(self.model, self.tokenizer, texts, **kw)[0]

    def _onnx(
        self,
        texts: Sequence[str],
        *,
        batch_size: int,
        max_length: int,
        prefix: str = "",
        progress: bool = False,
        desc: str = "predict",
        max_tokens: int | None = None,
        with_embeddings: bool = False,
    ) -> np.ndarray:
        from distill.onnx_export import OnnxClassifier

        check_precision(self.precision, with_embeddings=with_embeddings)
        if self._session is None:
            assert self.onnx_file is not None
            self._session = OnnxClassifier(self.onnx_file, self.tokenizer)
        logits = np.zeros((len(texts), self.model.config.num_labels), dtype=np.float32)
        batches = length_sorted_batches(
            self.tokenizer,
            texts,
            batch_size=batch_size,
            max_length=max_length,
            device=torch.device("cpu"),
            prefix=prefix,
            progress=progress,
            desc=desc,
            max_tokens=max_tokens,
        )
        for idx, batch in batches:
            logits[idx] = self._session.run({k: v.numpy() for k, v in batch.items()})
        return logits


def checked(
    forward: TeacherForward, texts: Sequence[str], labels: np.ndarray, **kw: Any
) -> dict[str, Any] | None:
    """The parity record of ``forward``'s ``labels`` (its logits of ``texts``, as they will be
    cached) on the first :data:`PARITY_ROWS` texts, against an fp32 forward of those texts (``None``
    for fp32, the reference itself). The fast path's own labels are compared, not a second forward
    of the sample: what is checked is what the cache keeps, and the fast path runs once.

    Raises:
        DistillError: The fast path misses the bar; the message gives its figures.
    """
    if forward.precision == "fp32":
        return None
    sample = list(texts[:PARITY_ROWS])
    quiet = {**kw, "progress": False, "with_embeddings": False}
    record = parity(forward.reference(sample, **quiet), labels[: len(sample)], forward.precision)
    log.info(
        "teacher.precision=%s: agreement with fp32 %.2f%%, mean KL %.2e on %d texts",
        forward.precision,
        100 * record["agreement"],
        record["mean_kl"],
        record["rows"],
    )
    if not record["passed"]:
        raise DistillError(
            f"teacher.precision={forward.precision} fails its parity check on {record['rows']} texts: "
            f"agreement with fp32 {100 * record['agreement']:.2f}% (needs >= {100 * MIN_AGREEMENT:.1f}%), "
            f"mean KL {record['mean_kl']:.2e} (needs <= {MAX_MEAN_KL:.0e}); its labels would differ "
            "from the teacher's",
            fix="use teacher.precision=fp32 (or bf16, which usually passes)",
        )
    return record
