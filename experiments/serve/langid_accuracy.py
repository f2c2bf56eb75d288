"""How often distill-serve's language identifier (py3langid) names the right language.

Texts: the chatterbot corpus test split (short conversational utterances: the hardest case for
character n-gram identifiers), every language the corpus has. Two settings: all 97 of py3langid's
languages (what distill-serve uses), and restricted to the languages of a typical export
(en + the five chatterbot target languages of our studies). Writes langid_accuracy.json beside
this file and prints a table.

    python experiments/serve/langid_accuracy.py
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from distill.data.sources import chatterbot as cb
from distill.provenance import git_state

HERE = Path(__file__).parent
STUDY_LANGS = ["en", "it", "ja", "ko", "uk", "zh"]
# The corpus names Chinese zh and py3langid does too; Portuguese pt, etc.: the codes agree.


def accuracy(identifier: LanguageIdentifier, rows: list[dict]) -> dict[str, dict[str, float]]:
    hits: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        hits[row["lang"]].append(int(identifier.classify(row["text"])[0] == row["lang"]))
    return {lang: {"accuracy": round(sum(h) / len(h), 4), "n": len(h)} for lang, h in sorted(hits.items())}


def main() -> None:
    rows = cb.load_chatterbot()["test"].to_list()
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    known = set(identifier.labels)
    rows = [r for r in rows if r["lang"] in known]
    start = time.perf_counter()
    full = accuracy(identifier, rows)
    per_text_ms = 1000 * (time.perf_counter() - start) / len(rows)
    identifier.set_languages(STUDY_LANGS)
    restricted = accuracy(identifier, [r for r in rows if r["lang"] in STUDY_LANGS])
    out = {
        "git": git_state(),
        "texts": "chatterbot corpus test split",
        "identifier": "py3langid (all languages) / restricted to " + ", ".join(STUDY_LANGS),
        "ms_per_text": round(per_text_ms, 3),
        "all_languages": full,
        "restricted": restricted,
    }
    (HERE / "langid_accuracy.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"{'lang':5} {'n':>5} {'all 97':>8} {'restricted':>10}")
    for lang, r in full.items():
        rest = restricted.get(lang, {}).get("accuracy")
        print(f"{lang:5} {r['n']:>5} {r['accuracy']:>8.3f} {'' if rest is None else f'{rest:.3f}':>10}")
    print(f"{per_text_ms:.3f} ms a text")


if __name__ == "__main__":
    main()
