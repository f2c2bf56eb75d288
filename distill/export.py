"""Export the student as a plain Hugging Face folder with a model card (DESIGN.md section 7).

The folder holds only the student: ``config.json`` (with ``id2label`` / ``label2id``),
``model.safetensors``, the tokenizer files and ``README.md``. It loads with plain ``transformers``
(``AutoModelForSequenceClassification.from_pretrained(folder)`` or
``pipeline("text-classification", model=folder)``) on a machine without ``distill``. It is written
atomically: a crash half-way leaves the previous export as it was.

Example:
    >>> card = ModelCard(base_model="intfloat/multilingual-e5-small", teacher="my/en-teacher",
    ...                  languages=["en", "it"], command="distill-run experiment=demo_it",
    ...                  metrics=report, data={"description": "...", "hashes": {...}})
    >>> folder = export_student(model, tokenizer, run_dir / "student", card=card)
    >>> log_artifact(folder)  # only when a W&B run is active
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from distill.adapters import export_adapter_student, is_adapter_export, languages, load_adapter_student
from distill.errors import DistillError
from distill.report import SYSTEMS, MetricsReport, metrics_markdown_tables, report_from_rows
from distill.utils.atomic import atomic_dir

log = logging.getLogger(__name__)

TAGS = ["xlt-distill", "distillation", "cross-lingual"]
# Pickle-based weights run code when loaded; the export must never contain them.
_PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"}


@dataclass
class ModelCard:
    """What the model card says about the exported student.

    Attributes:
        base_model: Hub id of the encoder the student started from.
        teacher: The teacher (hub id, folder or name); only named, never copied.
        languages: Source language first, then the target languages.
        command: The exact command that made the student.
        metrics: The run's results (a report, or its rows) for the metrics table.
        data: The data used: a ``description`` and any further entries, e.g. ``{"hashes":
            {"train.jsonl": "sha256..."}}``.
        pipeline_tag: The Hub pipeline tag.
        license: The license identifier; set it to the base model's license.
        input_prefix: A prefix the student expects before every text (``"query: "`` for E5).
        title: The card's heading; defaults to one built from the languages.
        provenance: The run's :func:`distill.provenance.provenance` record: every model and data
            source with its origin, license and content hash, and the reproducibility facts.
        vocab_trim: ``student.trim_vocab``'s record (:class:`distill.models.trim.TrimInfo` as a
            dict: pieces and parameters before and after), or ``None`` when the vocabulary is whole.
    """

    base_model: str
    teacher: str
    languages: list[str]
    command: str
    metrics: MetricsReport | Sequence[Mapping[str, Any]] | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    pipeline_tag: str = "text-classification"
    license: str = "unknown"
    input_prefix: str = ""
    title: str | None = None
    provenance: Mapping[str, Any] | None = None
    vocab_trim: Mapping[str, Any] | None = None

    def report(self) -> MetricsReport | None:
        """The metrics as a :class:`~distill.report.MetricsReport` (rows are wrapped)."""
        if self.metrics is None or isinstance(self.metrics, MetricsReport):
            return self.metrics
        return report_from_rows(self.metrics, self.languages[0], self.languages[1:])


def _labels(model: Any) -> list[str]:
    id2label = getattr(model.config, "id2label", None) or {}
    return [str(id2label[i]) for i in sorted(id2label, key=int)]


def _header(card: ModelCard) -> str:
    meta = {
        "language": list(card.languages),
        "library_name": "transformers",
        "pipeline_tag": card.pipeline_tag,
        "base_model": card.base_model,
        "license": card.license,
        "tags": TAGS,
    }
    # safe_dump quotes what YAML 1.1 would misread, e.g. the Norwegian code `no` as false.
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _data_lines(data: Mapping[str, Any]) -> list[str]:
    lines = [str(data["description"]), ""] if data.get("description") else []
    for key, value in data.items():
        if key == "description":
            continue
        if isinstance(value, Mapping):
            lines.append(f"- **{key}**:")
            lines += [f"  - {k}: `{v}`" for k, v in value.items()]
        elif isinstance(value, list | tuple):
            lines.append(f"- **{key}**: " + ", ".join(f"`{v}`" for v in value))
        else:
            lines.append(f"- **{key}**: `{value}`")
    return lines or ["Not recorded."]


def _source(entry: Mapping[str, Any]) -> str:
    """Where a model or data set came from, in a few words (local paths by their last part only)."""
    if entry.get("package"):
        return f"package `{entry['package']}=={entry.get('version')}`"
    if entry.get("hub_id"):
        revision = f" @ `{str(entry['revision'])[:12]}`" if entry.get("revision") else ""
        return f"hub `{entry['hub_id']}`{revision}" + (f" ({entry['config']})" if entry.get("config") else "")
    if entry.get("source") == "fine-tuned":
        return f"fine-tuned from `{entry.get('base_model')}` by this pipeline"
    if entry.get("path"):
        return f"local `{Path(str(entry['path'])).name}`"
    if entry.get("backend"):
        return f"{entry['backend']}" + (f" `{entry['pair']}`" if entry.get("pair") else "")
    return str(entry.get("ref") or entry.get("source") or "?")


def _hash(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} `{v}`" for k, v in value.items())
    return f"`{value}`" if value else "-"


def _provenance_lines(provenance: Mapping[str, Any] | None) -> list[str]:
    if not provenance:
        return ["Not recorded."]
    lines = ["| what | role | source | license | SHA-256 |", "|---|---|---|---|---|"]
    for kind in ("models", "data", "mt"):
        for e in provenance.get(kind) or []:
            what = {"models": "model", "data": "data", "mt": "MT"}[kind]
            role, license_ = e.get("name") or e.get("role"), e.get("license") or "unknown"
            lines.append(f"| {what} | {role} | {_source(e)} | {license_} | {_hash(e.get('sha256'))} |")
    repro = provenance.get("reproducibility") or {}
    if repro:
        versions = ", ".join(f"{k} {v}" for k, v in (repro.get("versions") or {}).items() if v)
        git = repro.get("git") or {}
        commit = git.get("commit")
        dirty = " (with uncommitted changes)" if git.get("dirty") else ""
        where = f"`{commit}`{dirty}" if commit else "unknown"
        plat = repro.get("platform") or {}
        lines += [
            "",
            f"- **seed**: `{repro.get('seed')}`",
            f"- **code**: git commit {where}",
            f"- **libraries**: {versions}",
            f"- **platform**: {plat.get('system')} {plat.get('machine')}, {plat.get('accelerator')}",
        ]
    return lines


def _metrics_lines(card: ModelCard) -> list[str]:
    report = card.report()
    if report is None or not report.results:
        return ["No evaluation was recorded for this export."]
    legend = [f"- `{name}`: {SYSTEMS[name]}." for name in report.systems]
    return [metrics_markdown_tables(report).rstrip("\n"), "", *legend]


def _embedding_usage_lines(name: str) -> list[str]:
    return [
        "```python",
        "from sentence_transformers import SentenceTransformer",
        "",
        f'model = SentenceTransformer("{name}")',
        'embeddings = model.encode(["Ciao, come stai?", "Hello, how are you?"])',
        "",
        "# or with plain transformers: mean-pool the last hidden states over the attention mask",
        "from transformers import AutoModel, AutoTokenizer",
        f'tokenizer, encoder = AutoTokenizer.from_pretrained("{name}"), AutoModel.from_pretrained("{name}")',
        "```",
    ]


def _token_usage_lines(name: str) -> list[str]:
    return [
        "```python",
        "from transformers import pipeline",
        "",
        f'tagger = pipeline("token-classification", model="{name}", aggregation_strategy="simple")',
        'print(tagger("Maria vive a Roma."))',
        "```",
        "",
        "It was trained on words (split on white space, or by the language's pre-tokenizer), each word",
        "read through its first sub-word.",
    ]


def _usage_lines(card: ModelCard, name: str) -> list[str]:
    if card.pipeline_tag == "sentence-similarity":
        return _embedding_usage_lines(name)
    if card.pipeline_tag == "token-classification":
        return _token_usage_lines(name)
    prefix = card.input_prefix
    text = f"{prefix}Ciao, come stai?" if prefix else "Ciao, come stai?"
    note = [f"The student expects every text to start with `{prefix!r}`.", ""] if prefix else []
    return [
        *note,
        "```python",
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline",
        "",
        f'classifier = pipeline("text-classification", model="{name}")',
        f"print(classifier({text!r}))",
        "",
        "# or, for the raw logits:",
        f'tokenizer = AutoTokenizer.from_pretrained("{name}")',
        f'model = AutoModelForSequenceClassification.from_pretrained("{name}").eval()',
        f"logits = model(**tokenizer([{text!r}], return_tensors='pt')).logits",
        "```",
    ]


def _vocab_lines(trim: Mapping[str, Any] | None) -> list[str]:
    if not trim:
        return []
    return [
        "## Vocabulary",
        "",
        f"Trimmed to the pieces of this run's texts (Abdaoui et al., 2020): {trim['pieces_after']:,} of "
        f"{trim['pieces_before']:,} {trim.get('tokenizer_type', '')} pieces kept, "
        f"{trim['params_before']:,} -> {trim['params_after']:,} parameters. Text the student was not "
        "trained on may contain pieces it no longer has: those read as the unknown token. "
        "The record is also in `config.json` under `xlt_distill_vocab_trim`.",
        "",
    ]


def render_card(card: ModelCard, labels: Sequence[str], name: str = "path/to/student") -> str:
    """The ``README.md`` text: YAML header, then what the model is, metrics, data, command, usage."""
    source, targets = card.languages[0], card.languages[1:]
    title = card.title or f"xlt-distill student ({source} -> {', '.join(targets) or source})"
    if card.pipeline_tag == "sentence-similarity":
        about = [
            f"A sentence encoder for {', '.join(card.languages)}, made with xlt-distill by multilingual "
            f"knowledge distillation (Reimers & Gurevych, 2020): a fine-tuned `{card.base_model}` learned "
            f"to map `{source}` sentences and their translations onto the teacher's `{source}` embedding.",
        ]
    elif card.pipeline_tag == "token-classification":
        about = [
            f"A tagger for {', '.join(card.languages)}, made with xlt-distill by word-level teacher-student "
            f"distillation: the teacher's tag distributions on words taught this student, a fine-tuned "
            f"`{card.base_model}`, to tag text in {', '.join(targets) or source}.",
            "",
            f"Tags: {', '.join(f'`{label}`' for label in labels)}.",
        ]
    else:
        about = [
            f"A `{card.pipeline_tag}` model for {', '.join(card.languages)}, made with xlt-distill "
            "by teacher-student distillation "
            f"for cross-lingual transfer: the teacher's soft labels on `{source}` text taught this "
            f"student, a fine-tuned `{card.base_model}`, to classify text in {', '.join(targets) or source}.",
            "",
            f"Labels: {', '.join(f'`{label}`' for label in labels)}.",
        ]
    lines = [
        f"# {title}",
        "",
        *about,
        "",
        "## Teacher",
        "",
        f"`{card.teacher}`. Only its predictions were used; none of its weights are in this folder.",
        "",
        "## Evaluation",
        "",
        *_metrics_lines(card),
        "",
        "## Data",
        "",
        *_data_lines(card.data),
        "",
        *_vocab_lines(card.vocab_trim),
        "## Provenance",
        "",
        *_provenance_lines(card.provenance),
        "",
        "## How it was made",
        "",
        "```bash",
        card.command,
        "```",
        "",
        "## Usage",
        "",
        *_usage_lines(card, name),
    ]
    return _header(card) + "\n" + "\n".join(lines) + "\n"


def _check_inputs(model: Any, card: ModelCard, out: Path) -> None:
    if not hasattr(model, "save_pretrained") or not hasattr(model, "config"):
        raise DistillError(
            f"cannot export {type(model).__name__}: expected a transformers model",
            fix="pass the student's Hugging Face model (e.g. the LightningModule's encoder), not a wrapper",
        )
    if not card.languages:
        raise DistillError("the model card needs at least the source language in `languages`")
    if card.pipeline_tag == "text-classification" and not _labels(model):
        raise DistillError("the student's config has no id2label: it is not a sequence classifier")
    if out.exists() and not out.is_dir():
        raise DistillError(f"cannot export to {out}: it is a file")
    # Replacing deletes the old folder: only ever do that to an earlier model export, never to a
    # folder of other things (a run directory, a home directory) that a typo pointed at.
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise DistillError(
            f"refusing to replace {out}: it is not empty and holds no model (no config.json)",
            fix="choose an empty or new folder for the export",
        )


def check_export_folder(folder: Path) -> None:
    """Fail (so the atomic write is abandoned) unless the folder holds safetensors weights only."""
    pickled = sorted(p.name for p in folder.rglob("*") if p.suffix in _PICKLE_SUFFIXES)
    if pickled:
        raise DistillError(f"export would contain pickle files {pickled}; only safetensors are allowed")
    if not any(folder.glob("*.safetensors")):
        raise DistillError("export has no .safetensors weights")


def export_student(
    model: Any,
    tokenizer: Any,
    out_dir: str | os.PathLike[str],
    *,
    card: ModelCard | None = None,
    **card_fields: Any,
) -> Path:
    """Write the student-only Hugging Face folder with its model card, atomically.

    Args:
        model: The student, a ``transformers`` model (``...ForSequenceClassification``).
        tokenizer: Its tokenizer.
        out_dir: The folder to write. An existing export there is replaced only once the new one
            is complete; a non-empty folder that is not a model export is refused.
        card: The model card contents; or give its fields (:class:`ModelCard`) as keywords.
        **card_fields: ``base_model``, ``teacher``, ``languages``, ``command``, ``metrics``,
            ``data``, ``pipeline_tag``, ``license``, ``input_prefix``, ``title``, ``provenance``.

    Returns:
        The folder.

    Raises:
        DistillError: On a model that is not a classifier, a bad card, or an unsafe ``out_dir``.
    """
    if card is None:
        try:
            card = ModelCard(**card_fields)
        except TypeError as exc:
            raise DistillError(f"bad model card fields: {exc}") from None
    elif card_fields:
        raise DistillError(f"give either card= or card fields, not both (got {sorted(card_fields)})")
    out = Path(out_dir)
    _check_inputs(model, card, out)
    # The snippet names a placeholder: the local path means nothing to whoever reads a shared card.
    readme = render_card(card, _labels(model))
    # distill-serve reads the prefix from config.json (the card says it in words).
    model.config.xlt_distill_input_prefix = card.input_prefix
    with atomic_dir(out) as tmp:
        # Weights straight from the student: nothing of the teacher is ever handed to this call.
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / "README.md").write_text(readme, encoding="utf-8")
        check_export_folder(tmp)
    log.info("exported the student to %s", out)
    return out


def export_adapters(
    model: Any, tokenizer: Any, out_dir: str | os.PathLike[str], spec: Any, **card_fields: Any
) -> Path:
    """Write a per-language adapter student (:mod:`distill.adapters`) with its model cards, atomically.

    ``out_dir`` gets ``base/`` (the shared model, a plain classifier), ``adapters/<lang>/`` (PEFT),
    ``merged/<lang>/`` (plain classifiers, unless ``student.lora.export_merged=false``), the
    adapters' manifest and a ``README.md`` saying how to load each.
    """

    out = Path(out_dir)
    _check_inputs(model, ModelCard(**card_fields), out)
    langs = languages(model)

    def write_folder(one: Any, tok: Any, folder: Path) -> None:
        lang = folder.name if folder.parent.name == "merged" else None
        fields = {**card_fields, "languages": [card_fields["languages"][0], lang]} if lang else card_fields
        export_student(one, tok, folder, **fields)

    with atomic_dir(out) as tmp:
        export_adapter_student(model, tokenizer, tmp, spec, write_folder=write_folder)
        base_card = (tmp / "base" / "README.md").read_text(encoding="utf-8")
        usage = _adapter_usage(langs, spec.export_merged)
        (tmp / "README.md").write_text(base_card + usage, encoding="utf-8")
        for folder in [tmp / "base", *(tmp / "adapters" / lang for lang in langs)]:
            check_export_folder(folder)
    log.info("exported the adapter student (%s) to %s", ", ".join(langs), out)
    return out


def _adapter_usage(langs: Sequence[str], merged: bool) -> str:
    lang = langs[0]
    lines = [
        "",
        "## Per-language adapters",
        "",
        "One shared encoder (`base/`) and one LoRA adapter per language",
        f"(`adapters/<lang>/`: {', '.join(langs)}).",
        "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
        "",
        'base = AutoModelForSequenceClassification.from_pretrained("path/to/student/base")',
        f'model = PeftModel.from_pretrained(base, "path/to/student/adapters/{lang}")',
        'tokenizer = AutoTokenizer.from_pretrained("path/to/student/base")',
        "```",
        "",
        f'With xlt-distill: `distill.load_student("path/to/student", lang="{lang}")`.',
    ]
    if merged:
        lines += [
            "",
            "`merged/<lang>/` holds each language's adapter merged into the encoder: a plain",
            f'`AutoModelForSequenceClassification.from_pretrained("path/to/student/merged/{lang}")`.',
        ]
    return "\n".join(lines) + "\n"


def load_student(path: str | os.PathLike[str], lang: str | None = None) -> tuple[Any, Any]:
    """Load an exported student: ``(model, tokenizer)``, the model in eval mode.

    Args:
        path: The export folder.
        lang: For a per-language adapter student, the language whose adapter to use (default: the
            first); ignored for a plain student.

    Raises:
        DistillError: When ``path`` is not an exported model folder, or has no adapter for ``lang``.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(path)
    if is_adapter_export(folder):
        return load_adapter_student(folder, lang)
    if not (folder / "config.json").is_file():
        raise DistillError(
            f"{folder} is not an exported student (no config.json)", fix="run the export stage"
        )
    model = AutoModelForSequenceClassification.from_pretrained(str(folder))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return model.eval(), tokenizer


def _artifact_name(name: str) -> str:
    # W&B artifact names allow letters, digits, '-', '_' and '.'.
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "student"


def log_artifact(
    path: str | os.PathLike[str],
    run: Any = None,
    *,
    name: str | None = None,
    aliases: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """Log the exported folder as a W&B model artifact when a run is active; else do nothing.

    Args:
        path: The exported folder.
        run: A W&B run; defaults to ``wandb.run``.
        name: Artifact name; defaults to the folder's name.
        aliases: Extra aliases (W&B always adds ``latest``).
        metadata: Stored with the artifact (e.g. the metrics).

    Returns:
        The logged ``wandb.Artifact``, or ``None`` when no run is active.
    """
    if run is None:
        # No run can be active unless something already imported wandb; checking sys.modules
        # avoids paying for the (slow) wandb import on every run without W&B.
        wandb_module = sys.modules.get("wandb")
        run = getattr(wandb_module, "run", None) if wandb_module is not None else None
    if run is None:
        return None
    import wandb

    folder = Path(path)
    artifact = wandb.Artifact(
        _artifact_name(name or folder.name), type="model", metadata=dict(metadata or {})
    )
    artifact.add_dir(str(folder))
    run.log_artifact(artifact, aliases=list(aliases) if aliases else None)
    log.info("logged %s to W&B as model artifact %s", folder, artifact.name)
    return artifact
