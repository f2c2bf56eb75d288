#!/usr/bin/env bash
# The README's demo section, measured as a newcomer meets it: a fresh clone of this checkout's HEAD,
# an empty cache, `make demo` (the install from the machine's wheels included), timed end to end.
#   bash experiments/demo/measure.sh     # then: git diff README.md experiments/demo/measured.json
# Writes experiments/demo/measured.json and regenerates the README section between the
# "demo:begin" and "demo:end" markers from it (record.py). Give it the machine alone: any other job
# distorts the time. The clone and its cache are deleted afterwards (KEEP=1 keeps them).
set -euo pipefail
here=$(realpath "$(dirname "$0")/../..")
work=$(mktemp -d /tmp/demo_XXXX)
trap '[ "${KEEP:-0}" = 1 ] || rm -rf "$work"' EXIT
git clone -q "$here" "$work/xlt-distill"
cd "$work/xlt-distill"
export DISTILL_CACHE="$work/cache"  # empty: the teacher, the soft labels and the converted student are made anew
unset PYTHONPATH
start=$(date +%s.%N)
make setup > "$work/setup.log" 2>&1
setup_end=$(date +%s.%N)
make demo 2>&1 | tee "$work/demo.log"
end=$(date +%s.%N)
run_dir=$(ls -d outputs/*/* | tail -1)
"$here/.venv/bin/python" "$here/experiments/demo/record.py" \
  --run "$run_dir" --console "$work/demo.log" --repo "$here" \
  --start "$start" --setup-end "$setup_end" --end "$end"
