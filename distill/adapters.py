"""Per-language adapters: one shared, frozen encoder and one small LoRA adapter per target language.

``student.adapters=lora`` wraps the student in a PEFT model with one LoRA adapter per target
language (named by its code). Training batches hold one language each and switch the active
adapter to it; the classification head is shared by every language (trained once, with the first
fit) or kept per language (``student.lora.head=per_language``: PEFT's ``modules_to_save``).

The export (:func:`export_adapter_student`) holds the shared model once (``base/``, a plain
``transformers`` classifier whose head is the shared one), one PEFT adapter folder per language
(``adapters/<lang>/``), and, unless turned off, a merged plain-``transformers`` model per language
(``merged/<lang>/``). :func:`load_adapter_student` picks the adapter from a language code.

Adding a language later (``student.init_from=<export> data.target_langs=[xx]``) loads the export,
freezes everything in it and trains only the new language's adapter (and head, when per language):
the earlier languages' predictions stay bit for bit the same.

Example::

    model, tokenizer = load_adapter_student("runs/x/student", "it")
    # without distill: PeftModel.from_pretrained(AutoModelForSequenceClassification
    #     .from_pretrained("runs/x/student/base"), "runs/x/student/adapters/it")
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from distill.errors import DistillError
from distill.utils.config import dataclass_from

log = logging.getLogger(__name__)

ADAPTERS = ("lora",)
HEADS = ("shared", "per_language")
# The head of a sequence classifier: BERT's pooler and the linear classifier.
HEAD_MODULES = ("classifier", "pooler")
MANIFEST = "xlt_distill_adapters.json"


@dataclass(frozen=True)
class AdapterSpec:
    """How the per-language LoRA adapters are shaped (``student.lora``)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ("query", "value")
    head: str = "shared"
    export_merged: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_cfg(cls, student: DictConfig) -> AdapterSpec:
        kind = student.get("adapters")
        if kind not in ADAPTERS:
            raise DistillError(
                f"student.adapters must be null or one of {list(ADAPTERS)}, got {kind!r}",
                fix="set student.adapters=lora (or null for a fully fine-tuned student)",
            )
        spec = dataclass_from(cls, dict(student.get("lora") or {}))
        if spec.head not in HEADS:
            raise DistillError(
                f"student.lora.head must be one of {list(HEADS)}, got {spec.head!r}",
                fix="set student.lora.head=shared",
            )
        if spec.r < 1:
            raise DistillError(f"student.lora.r must be >= 1, got {spec.r}", fix="e.g. student.lora.r=8")
        return spec

    def lora_config(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.target_modules),
            modules_to_save=list(HEAD_MODULES) if self.head == "per_language" else None,
        )


def is_adapter_student(model: Any) -> bool:
    """Whether ``model`` is a PEFT model with per-language adapters."""
    return hasattr(model, "peft_config") and hasattr(model, "set_adapter")


def languages(model: Any) -> list[str]:
    """The languages that have an adapter, in the order they were added."""
    return list(model.peft_config) if is_adapter_student(model) else []


def use_language(model: Any, lang: str) -> None:
    """Make ``lang``'s adapter the active one (no-op for a plain student).

    A language without an adapter (the source language) reads through the first one.
    """
    if not is_adapter_student(model):
        return
    names = languages(model)
    model.set_adapter(lang if lang in names else names[0])


def encoder_of(model: Any) -> Any:
    """The encoder whose hidden states are the sentence embeddings (inside a PEFT model too)."""
    inner = model.get_base_model() if is_adapter_student(model) else model
    return getattr(inner, "base_model", inner)


def _is_head(name: str) -> bool:
    return any(f"{m}." in name or name.startswith(m) for m in HEAD_MODULES)


def _owned_by(name: str, lang: str) -> bool:
    """Whether parameter ``name`` belongs to ``lang``'s adapter (PEFT names it ``...<kind>.<lang>...``)."""
    return f".{lang}." in name or name.endswith(f".{lang}")


def _is_frozen_adapter(name: str, frozen: Iterable[str]) -> bool:
    return any(_owned_by(name, lang) for lang in frozen)


def trainable_parameters(model: Any, frozen_langs: Sequence[str] = ()) -> list[Any]:
    """Every adapter's parameters and the head's, active adapter or not (the optimizer's list).

    PEFT marks only the active adapter trainable; the optimizer must hold all of them. A shared
    head is trained unless languages were frozen (a later language must not move it); the adapters
    of ``frozen_langs`` never are.
    """
    params = []
    for name, p in model.named_parameters():
        adapter = "lora_" in name or "modules_to_save" in name
        shared_head = not adapter and _is_head(name) and "original_module" not in name and not frozen_langs
        if (adapter and not _is_frozen_adapter(name, frozen_langs)) or shared_head:
            params.append(p)
    return params


def add_language_adapters(model: Any, langs: Sequence[str], spec: AdapterSpec) -> Any:
    """Wrap a classifier in a PEFT model with one LoRA adapter per language in ``langs``."""
    from peft import get_peft_model

    if not langs:
        raise DistillError("student.adapters=lora needs at least one target language")
    config = spec.lora_config()
    if is_adapter_student(model):
        peft_model = model
    else:
        peft_model = get_peft_model(model, config, adapter_name=langs[0])
        langs = langs[1:]
    for lang in langs:
        peft_model.add_adapter(lang, spec.lora_config())
    if spec.head == "shared":
        for name, p in peft_model.named_parameters():
            if _is_head(name) and "lora_" not in name:
                p.requires_grad_(True)
    peft_model.set_adapter(languages(peft_model)[0])
    return peft_model


def parameter_counts(model: Any, spec: AdapterSpec, frozen_langs: Sequence[str] = ()) -> dict[str, Any]:
    """Parameters trained and stored per language, the shared ones, and the base model's."""
    per_lang: dict[str, int] = {}
    shared = 0
    base = 0
    for name, p in model.named_parameters():
        n = int(p.numel())
        owner = next((lang for lang in languages(model) if _owned_by(name, lang)), None)
        if owner is not None and ("lora_" in name or "modules_to_save" in name):
            per_lang[owner] = per_lang.get(owner, 0) + n
        elif _is_head(name) and "original_module" not in name and spec.head == "shared":
            shared += n
        elif "original_module" not in name:
            base += n
    total = base + shared + (max(per_lang.values()) if per_lang else 0)
    return {
        "kind": "lora",
        "head": spec.head,
        "r": spec.r,
        "per_language": per_lang,
        "shared_head": shared,
        "frozen_base": base,
        "fraction_trained_per_language": {lang: round(n / max(total, 1), 6) for lang, n in per_lang.items()},
        "frozen_languages": list(frozen_langs),
    }


# ------------------------------------------------------------------------------------- export


def export_adapter_student(
    model: Any,
    tokenizer: Any,
    out: Path,
    spec: AdapterSpec,
    *,
    write_folder: Any,
) -> None:
    """Write ``base/``, ``adapters/<lang>/`` and (``export_merged``) ``merged/<lang>/`` into ``out``.

    Args:
        write_folder: ``(model, tokenizer, folder) -> None``, writing a plain ``transformers``
            folder with its model card (the single-model export).
    """
    langs = languages(model)
    base = copy.deepcopy(model).unload()  # the frozen encoder with the shared (or original) head
    write_folder(base, tokenizer, out / "base")
    model.save_pretrained(str(out / "adapters"), selected_adapters=langs)
    for lang in langs:  # PEFT puts named adapters in sub-folders; point each at the shared base
        config_path = out / "adapters" / lang / "adapter_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = "../../base"
        config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if spec.export_merged:
        for lang in langs:
            one = copy.deepcopy(model)
            one.set_adapter(lang)
            write_folder(one.merge_and_unload(), tokenizer, out / "merged" / lang)
    manifest = {"languages": langs, "head": spec.head, "r": spec.r, "merged": spec.export_merged}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def is_adapter_export(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / MANIFEST).is_file()


def load_adapter_student(
    path: str | os.PathLike[str], lang: str | None = None, *, all_languages: bool = False
) -> tuple[Any, Any]:
    """Load an adapter export: the shared base and ``lang``'s adapter (or every adapter).

    Args:
        path: The export folder (``<run dir>/student``).
        lang: The language whose adapter is active; default: the first one.
        all_languages: Load every language's adapter (``lang`` active), e.g. to add a language.

    Raises:
        DistillError: Not an adapter export, or no adapter for ``lang``.
    """
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(path)
    if not is_adapter_export(folder):
        raise DistillError(
            f"{folder} is not an adapter export (no {MANIFEST})",
            fix="point to the student/ folder of a run made with student.adapters=lora",
        )
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    langs = list(manifest["languages"])
    lang = lang or langs[0]
    if lang not in langs:
        raise DistillError(
            f"{folder} has no adapter for {lang!r}; it has {langs}",
            fix=f"pass one of {', '.join(langs)}, or add the language with student.init_from={folder}",
        )
    base = AutoModelForSequenceClassification.from_pretrained(str(folder / "base"))
    tokenizer = AutoTokenizer.from_pretrained(str(folder / "base"))
    wanted = langs if all_languages else [lang]
    model = PeftModel.from_pretrained(base, str(folder / "adapters" / wanted[0]), adapter_name=wanted[0])
    for other in wanted[1:]:
        model.load_adapter(str(folder / "adapters" / other), adapter_name=other)
    model.set_adapter(lang)
    return model.eval(), tokenizer


def continue_from(
    path: str | os.PathLike[str], new_langs: Sequence[str], spec: AdapterSpec
) -> tuple[Any, Any, list[str]]:
    """The student of an earlier adapter export with new adapters for ``new_langs``.

    Returns:
        ``(model, tokenizer, earlier languages)``; only the new adapters (and their heads) train.

    Raises:
        DistillError: A new language already has an adapter in the export.
    """
    model, tokenizer = load_adapter_student(path, all_languages=True)
    earlier = languages(model)
    again = sorted(set(earlier) & set(new_langs))
    if again:
        raise DistillError(
            f"student.init_from={path} already has adapters for {again}",
            fix="list only new languages in data.target_langs",
        )
    model = add_language_adapters(model, list(new_langs), spec)
    for name, p in model.named_parameters():
        if not any(_owned_by(name, lang) for lang in new_langs):
            p.requires_grad_(False)
    log.info("adapters: continuing from %s (%s frozen), adding %s", path, earlier, list(new_langs))
    return model, tokenizer, earlier


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)


def merge_adapter_folder(base: str | os.PathLike[str], adapter: str | os.PathLike[str], out: Path) -> Path:
    """A plain ``transformers`` classifier folder ``out``: the shared ``base/`` folder of an adapter
    export with the PEFT adapter folder ``adapter`` merged into its weights (written atomically).
    What ``merged/<lang>/`` holds for the export's own adapters, for any version of one."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from distill.utils.atomic import atomic_dir

    model = AutoModelForSequenceClassification.from_pretrained(str(base))
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    with atomic_dir(Path(out)) as tmp:
        merged.save_pretrained(str(tmp))
        AutoTokenizer.from_pretrained(str(base)).save_pretrained(str(tmp))
    return Path(out)
