"""Neural translation with a Hugging Face ``MarianMTModel`` (a hub id or a local folder)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from distill.data.translate.base import Translator, batches, require_positive
from distill.errors import DistillError

log = logging.getLogger(__name__)


class MarianTranslator(Translator):
    """Neural translation with a Hugging Face ``MarianMTModel`` and its ``MarianTokenizer``.

    The model is loaded on first use. Sentences are translated longest first in batches of similar
    length (less padding), and the results are put back in input order. Decoding is greedy unless
    ``num_beams > 1``, so results are deterministic.

    Args:
        model: A hub id such as ``Helsinki-NLP/opus-mt-en-es`` (needs network the first time) or a
            local folder written by ``save_pretrained``.
        batch_size: Sentences per ``generate`` call.
        max_length: Longest input (tokens; longer inputs are truncated) and longest output.
        device: ``cpu``, ``cuda``, ``cuda:1``, ... or ``auto`` (CUDA when available).
        num_beams: Beam size; 1 is greedy decoding.
    """

    name = "marian"

    def __init__(
        self,
        model: str,
        batch_size: int = 16,
        max_length: int = 256,
        device: str = "cpu",
        num_beams: int = 1,
    ) -> None:
        for option, value in (
            ("batch_size", batch_size),
            ("max_length", max_length),
            ("num_beams", num_beams),
        ):
            require_positive(option, value)
        local = Path(model).expanduser()
        # A local folder is resolved now (Hydra may change directory); a hub id is kept as given.
        self.model = str(local.resolve()) if local.is_dir() else model
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.device = device
        self.num_beams = int(num_beams)
        self._loaded: tuple[Any, Any, Any] | None = None  # (tokenizer, model, torch.device)

    def describe(self) -> str:
        """E.g. ``marian:Helsinki-NLP/opus-mt-en-es:beams=1:max_length=256``."""
        return f"marian:{self.model}:beams={self.num_beams}:max_length={self.max_length}"

    def check(self) -> None:
        """Load the tokenizer and model (once)."""
        if self._loaded is None:
            self._loaded = self._load()

    def _torch_device(self) -> Any:
        import torch

        name = self.device
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            device = torch.device(name)
        except RuntimeError as exc:
            raise DistillError(
                f"unknown device {self.device!r}", fix="use cpu, cuda, cuda:N or auto"
            ) from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise DistillError(
                f"device {self.device!r} requested but CUDA is not available", fix="use device=cpu"
            )
        return device

    def _load(self) -> tuple[Any, Any, Any]:
        from transformers import MarianMTModel, MarianTokenizer

        device = self._torch_device()
        fix = (
            "give a local folder written by save_pretrained (config.json, model weights, source.spm, "
            "target.spm, vocab.json), or a hub id such as Helsinki-NLP/opus-mt-en-es while online "
            "(HF_HUB_OFFLINE unset)"
        )
        try:
            # The model first: for a missing model it raises a clear OSError, whereas the tokenizer
            # (offline, files not found) gets None paths and fails with a TypeError deep inside.
            model = MarianMTModel.from_pretrained(self.model)
            tokenizer = MarianTokenizer.from_pretrained(self.model)
        except ImportError as exc:  # MarianTokenizer needs the sentencepiece package
            raise DistillError(
                f"cannot load the Marian tokenizer: {exc}", fix="pip install 'xlt-distill[marian]'"
            ) from exc
        except (OSError, ValueError, TypeError, AssertionError) as exc:
            raise DistillError(f"cannot load Marian model {self.model!r}: {exc}", fix=fix) from exc
        model.to(device).eval()
        log.info("loaded Marian model %s on %s", self.model, device)
        return tokenizer, model, device

    def _translate(self, texts: list[str]) -> list[str]:
        import torch

        assert self._loaded is not None  # loaded by check()
        tokenizer, model, device = self._loaded
        # Longest first, so that running out of memory happens on the first batch, not the last;
        # characters are a good enough proxy for tokens here. sorted() is stable: ties keep order.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = [""] * len(texts)
        for start, stop in batches(len(order), self.batch_size):
            idx = order[start:stop]
            enc = tokenizer(
                [texts[i] for i in idx],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
            ).to(device)
            with torch.inference_mode():
                generated = model.generate(
                    **enc, num_beams=self.num_beams, do_sample=False, max_length=self.max_length
                )
            for i, text in zip(idx, tokenizer.batch_decode(generated, skip_special_tokens=True), strict=True):
                out[i] = text.strip()
        return out
