#!/usr/bin/env bash
# Behaviour parity of a refactor: run the same commands with two code trees and compare their records.
#   experiments/parity/run.sh <out dir> [code dir]   (code dir: the tree to import distill from)
# Each case runs in <out dir>/<case> with its own fresh soft-label cache (<out dir>/cache); compare
# two out dirs with experiments/parity/compare.py. Offline; tiny models except `demo`.
set -euo pipefail
out=$(realpath -m "$1"); code=$(realpath "${2:-$(dirname "$0")/../..}")
here=$(realpath "$(dirname "$0")/../..")
bin=${VENV_BIN:-$here/.venv/bin}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline
export DISTILL_CACHE=${DISTILL_CACHE:-$out/cache} PYTHONPATH=$code
common="logger=csv trainer.enable_progress_bar=false"
declare -A cases=(
  [tiny]="debug=tiny"
  [tiny_rounds]="debug=tiny cycle.rounds=2 data.rehearsal=16 baselines=tiny"
  [tiny_direct]="debug=tiny mode=direct"
  [embed]="experiment=embed_django debug=tiny trainer.max_epochs=1 data.target_langs=[it,sw]"
  [demo]="experiment=demo_it"
)
for case in ${CASES:-tiny tiny_rounds tiny_direct embed}; do
  mkdir -p "$out/$case"
  echo "== $case (code: $code)"
  (cd "$out" && "$bin/python" -c "import sys; from distill.cli import run_main; sys.argv=['distill-run']+sys.argv[1:]; run_main()" \
     ${cases[$case]} $common "hydra.run.dir=$out/$case") > "$out/$case.log" 2>&1 || { echo "failed: see $out/$case.log"; exit 1; }
done
