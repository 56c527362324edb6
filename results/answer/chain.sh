#!/usr/bin/env bash
# Run the answer studies unattended, in the priority order, from the frozen worktree:
#   1. answer.yaml until its baseline grid (48 runs) is finished, then stop it (SIGTERM: runs in flight checkpoint);
#   2. answer_mnist5k.yaml to completion;
#   3. answer.yaml again for its norm, slopes, width and depth grids.
# Each step resumes: rerun this script after an interruption. Run from the repository root:
#   nohup results/answer/chain.sh > ../chain.log 2>&1 &
set -u
ROOT=$PWD
FROZEN=${FROZEN:-$ROOT/../gan-frozen}
PY=$ROOT/.venv/bin/python
FM=$ROOT/results/answer/fashion_mnist
study() { (cd "$FROZEN" && PYTHONPATH=$FROZEN "$PY" -m gan study "$@"); }
running() { pgrep -f "gan study $ROOT/configs/study/answer\.yaml" > /dev/null; }
baseline_done() {  # finished runs of the baseline grid: d_act-<relu|leaky_relu:0.2>__seed-<n>
  grep -lE '"status": "(completed|diverged)"' "$FM"/runs/d_act-*__seed-*/summary.json 2>/dev/null \
    | grep -cE '/d_act-(relu|leaky_relu:0\.2)__seed-[0-9]+/summary\.json$'
}

if [ "$(baseline_done)" -lt 48 ]; then
  running || { study "$ROOT/configs/study/answer.yaml" --jobs 2 --out "$FM" >> "$ROOT/../answer_fm.log" 2>&1 & }
  while [ "$(baseline_done)" -lt 48 ]; do sleep 60; done
  echo "$(date -u +%FT%TZ) baseline grid finished; stopping answer.yaml for mnist5k"
fi
while running; do pkill -TERM -f "gan study $ROOT/configs/study/answer\.yaml"; sleep 30; done
echo "$(date -u +%FT%TZ) answer_mnist5k.yaml"
study "$ROOT/configs/study/answer_mnist5k.yaml" --jobs 2 --out "$ROOT/results/answer/mnist5k" >> "$ROOT/../answer_mnist5k.log" 2>&1
echo "$(date -u +%FT%TZ) answer.yaml (norm, slopes, width, depth)"
study "$ROOT/configs/study/answer.yaml" --jobs 2 --out "$FM" >> "$ROOT/../answer_fm.log" 2>&1
echo "$(date -u +%FT%TZ) done"
