"""The served student: one loaded export, one forward per batch, a per-row adapter in that forward.

A per-language adapter export (``base/`` + ``adapters/<lang>/``, :mod:`distill.adapters`) is loaded
once as a PEFT model holding every adapter version the registry names (``"<lang>@<version>"``). A
batch that mixes languages runs in **one** forward: PEFT's ``adapter_names`` picks each row's LoRA
weights (rows without an adapter read the shared base, PEFT's ``"__base__"``), so serving ten
languages costs one model in memory, not ten. A plain export (fully shared student) is a plain
``transformers`` model and ignores the languages.

Example::

    model = ServedModel.load("runs/x/student")
    model.load_adapter("it", "v1", "runs/x/student/adapters/it")
    probs = model.classify(["Ciao!", "Hello!"], ["it@v1", BASE])   # (2, C)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distill.adapters import MANIFEST, is_adapter_export
from distill.errors import DistillError
from distill.serve.microbatch import micro_batches, tokenize
from distill.utils.architectures import head_kind
from distill.utils.sentence import pool, sentence_layout

log = logging.getLogger(__name__)

# PEFT's name for "no adapter" in a mixed batch.
BASE = "__base__"
PREFIX_KEY = "xlt_distill_input_prefix"
# Rows per forward inside one served batch (length-sorted; distill.serve.microbatch).
MICRO_BATCH = 8


def adapter_name(lang: str, version: str) -> str:
    return f"{lang}@{version}"


class ServedModel:
    """A loaded export: the tokenizer, the model (PEFT-wrapped for an adapter export), its kind.

    Attributes:
        kind: ``"classification"`` (probabilities over ``labels``) or ``"embedding"`` (vectors pooled
            and normalised as the export's sentence-transformers files say: what
            ``SentenceTransformer(folder).encode`` gives).
        labels: The class names in logit order (classification).
        languages: The languages the export has adapters for (empty for a fully shared student).
        prefix: The text the student expects before every input (``"query: "`` for E5).
    """

    def __init__(
        self,
        folder: Path,
        model: Any,
        tokenizer: Any,
        *,
        languages: Sequence[str],
        max_length: int,
        micro_batch: int = MICRO_BATCH,
    ):
        self.folder = folder
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.languages = list(languages)
        self.max_length = max_length
        self.micro_batch = micro_batch
        config = model.config
        self.kind = head_kind(config)
        id2label = getattr(config, "id2label", None) or {}
        self.labels = (
            [str(id2label[i]) for i in sorted(id2label, key=int)] if self.kind != "embedding" else []
        )
        self.prefix = str(getattr(config, PREFIX_KEY, "") or "")
        layout = folder if (folder / "modules.json").is_file() else folder / "base"
        self.layout = sentence_layout(layout)  # (pooling, normalize)
        self.adapters: set[str] = set()

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, max_length: int = 128, micro_batch: int = MICRO_BATCH
    ) -> ServedModel:
        """Load an export folder (plain, or per-language adapters without any adapter loaded yet).

        Raises:
            DistillError: ``path`` is not an export folder.
        """
        from transformers import (
            AutoConfig,
            AutoModel,
            AutoModelForSequenceClassification,
            AutoModelForTokenClassification,
            AutoTokenizer,
        )

        folder = Path(path)
        adapters = is_adapter_export(folder)
        weights = folder / "base" if adapters else folder
        if not (weights / "config.json").is_file():
            raise DistillError(
                f"{folder} is not an exported student (no config.json{' in base/' if adapters else ''})",
                fix="pass the student/ folder a run wrote (distill-run or distill-export)",
            )
        config = AutoConfig.from_pretrained(str(weights))
        loader = {
            "classification": AutoModelForSequenceClassification,
            "token_classification": AutoModelForTokenClassification,
        }.get(head_kind(config), AutoModel)
        model = loader.from_pretrained(str(weights))
        tokenizer = AutoTokenizer.from_pretrained(str(weights))
        langs: list[str] = []
        if adapters:
            langs = list(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["languages"])
        return cls(folder, model, tokenizer, languages=langs, max_length=max_length, micro_batch=micro_batch)

    def load_adapter(self, lang: str, version: str, path: str | os.PathLike[str]) -> str:
        """Load ``path`` (a PEFT adapter folder) as ``lang``'s ``version``; returns its adapter name."""
        from peft import PeftModel

        name = adapter_name(lang, version)
        if name in self.adapters:
            return name
        if not (Path(path) / "adapter_config.json").is_file():
            raise DistillError(
                f"{path} is not an adapter folder (no adapter_config.json)",
                fix="pass an adapters/<lang>/ folder of an adapter export",
            )
        if not self.adapters:
            self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=name).eval()
        else:
            self.model.load_adapter(str(path), adapter_name=name)
        self.adapters.add(name)
        log.info("serve: loaded adapter %s from %s", name, path)
        return name

    def _groups(self, texts: Sequence[str], names: Sequence[str] | None) -> Iterator[tuple[np.ndarray, Any]]:
        """Length-sorted micro-batches of ``texts``: ``(row indices, model output)`` each."""
        import torch

        enc = tokenize(self.tokenizer, [self.prefix + t for t in texts], self.max_length)
        for rows, arrays in micro_batches(enc, self.tokenizer, self.micro_batch):
            batch = {k: torch.from_numpy(v) for k, v in arrays.items()}
            yield rows, (batch, self._forward(batch, [names[i] for i in rows] if names else None))

    def _forward(self, batch: dict[str, Any], names: Sequence[str] | None) -> Any:
        import torch

        kwargs: dict[str, Any] = {}
        if self.adapters:
            kwargs["adapter_names"] = [
                n if n in self.adapters else BASE for n in (names or [BASE] * len(batch["input_ids"]))
            ]
        with torch.inference_mode():
            return self.model(**batch, **kwargs)

    def classify(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities, ``(len(texts), len(labels))``; row ``i`` through adapter ``names[i]``."""
        import torch

        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for rows, (_, out) in self._groups(texts, names):
            probs[rows] = torch.softmax(out.logits.float(), dim=-1).numpy()
        return probs

    def embed(self, texts: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        """Sentence embeddings, ``(len(texts), hidden)``, pooled (and normalised) as the export says."""
        vectors: np.ndarray | None = None
        for rows, (batch, out) in self._groups(texts, names):
            pooled = pool(
                out.last_hidden_state.float().numpy(), batch["attention_mask"].numpy(), *self.layout
            )
            if vectors is None:
                vectors = np.zeros((len(texts), pooled.shape[-1]), dtype=np.float32)
            vectors[rows] = pooled
        assert vectors is not None, "embed() needs at least one text"
        return vectors

    def tag(self, texts: Sequence[str], names: Sequence[str] | None = None) -> list[np.ndarray]:
        """Tag probabilities per word, ``(W_i, len(labels))`` for each text, its words split on white
        space (as the token task's data is); each word read through its first sub-word."""
        import torch

        from distill.tasks.token_classification.words import encode_words, pool_words

        out: list[np.ndarray] = [np.zeros((0, len(self.labels)), dtype=np.float32)] * len(texts)
        words = [t.split() for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(words[i]))
        size = self.micro_batch if self.micro_batch > 0 else len(texts)
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            batch = encode_words(self.tokenizer, [words[i] for i in rows], self.max_length, self.prefix)
            index = batch.pop("word_index")
            logits = self._forward(batch, [names[i] for i in rows] if names else None).logits.float()
            pooled, _ = pool_words(logits, index, max(len(words[i]) for i in rows), "first")
            probs = torch.softmax(pooled, dim=-1).numpy()
            for k, i in enumerate(rows):
                out[i] = probs[k, : len(words[i])]
        return out
