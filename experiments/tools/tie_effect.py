"""What the tie-break did in a study's runs: per run, the epochs trained and the epoch kept, beside
what Lightning's strict rule (early stopping with the same patience, checkpoint on the first best
value) would have done on the same validation history.

Training does not depend on the callbacks until a fit stops, so the strict rule's choice can be read
off each run's CSV log (``csv/version_0/metrics.csv``: ``val/agreement``, ``val/loss`` per epoch).
The kept epoch is checked against the checkpoint the run recorded (``student_checkpoint``).

    python experiments/tools/tie_effect.py experiments/chatterbot_topics/runs_no_target_labels --patience 3
    python experiments/tools/tie_effect.py experiments/chatterbot_topics/runs_topics_all --ran-with strict
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from distill.callbacks import TieBreak

#: The default callbacks' rule (``conf/callbacks/default.yaml``): ties broken by a lower ``val/loss``.
RULE = TieBreak()
Epoch = tuple[int, float, float]  # (epoch, val/agreement, val/loss)


def history(log: Path) -> list[Epoch]:
    """The validation rows of a CSV log, in epoch order."""
    with log.open() as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/agreement")]
    return [(int(r["epoch"]), float(r["val/agreement"]), float(r["val/loss"])) for r in rows]


def strict(hist: list[Epoch], patience: int) -> tuple[int, int]:
    """Lightning's rule: (epochs it would train, epoch it would keep): a strictly higher agreement."""
    best, wait, kept = float("-inf"), 0, hist[0][0]
    for i, (epoch, agreement, _) in enumerate(hist):
        if agreement > best:
            best, wait, kept = agreement, 0, epoch
        else:
            wait += 1
            if wait >= patience:
                return i + 1, kept
    return len(hist), kept


def tie_break(hist: list[Epoch]) -> int:
    """The epoch the tie-break keeps: the best agreement, then the lowest validation loss."""
    return max(hist, key=lambda e: RULE.rank(e[1], e[2], "max"))[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="a study's runs folder (<variant>/<lang>/seed<N>/)")
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument(
        "--ran-with",
        choices=("tie_break", "strict"),
        default="tie_break",
        help="the rule the runs used, whose kept epoch must match their student_checkpoint",
    )
    args = parser.parse_args(argv)
    print("| run | epochs | kept | strict: epochs | strict: kept | differs |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    differs = n = 0  # runs where the two rules differ
    for log in sorted(args.runs.glob("*/*/seed*/csv/version_0/metrics.csv")):
        run = log.parents[2]
        hist = history(log)
        kept, (s_epochs, s_kept) = tie_break(hist), strict(hist, args.patience)
        recorded = json.loads((run / "metrics.json").read_text()).get("student_checkpoint", "")
        expected = kept if args.ran_with == "tie_break" else s_kept
        if Path(recorded).name != f"epoch{expected:02d}.ckpt":
            print(f"{run}: the run kept {recorded}, {args.ran_with} says epoch {expected}", file=sys.stderr)
            return 1
        changed = kept != s_kept or s_epochs != len(hist)  # (strict runs: s_epochs is len(hist))
        differs += changed
        n += 1
        row = [
            run.relative_to(args.runs),
            len(hist),
            kept + 1,
            s_epochs,
            s_kept + 1,
            "yes" if changed else "",
        ]
        print("| " + " | ".join(map(str, row)) + " |")
    if args.ran_with == "tie_break":
        print(
            f"\nThe tie-break changed the kept epoch or the fit's length in {differs} of {n} runs "
            "(epochs counted from 1)."
        )
    else:  # the fits stopped by the strict rule: the tie-break is read off the epochs they trained
        print(
            f"\nWithin the epochs each fit trained, the tie-break would have kept another epoch in "
            f"{differs} of {n} runs (epochs counted from 1)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
