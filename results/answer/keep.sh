#!/usr/bin/env bash
# Commit the answer studies' finished runs (small files only) every 3 minutes while they train, so a session
# that ends mid-study loses at most the runs in flight. Also commits each quality classifier the frozen
# worktree trains (a study must be measured by one feature network from start to end, on any machine).
# Run from the repository root: nohup results/answer/keep.sh &
set -u
FROZEN=${FROZEN:-../gan-frozen}
while true; do
  if [ ! -e .git/index.lock ]; then
    for study in results/answer/*/; do
      [ -d "$study/runs" ] && .venv/bin/python results/answer/runs_git.py pack "$study" | xargs -r -d '\n' git add -f --
    done
    for f in "$FROZEN"/data/.gan_cache/classifier-* "$FROZEN"/data/.gan_cache/reference-*; do
      [ -f "$f" ] && [ "${f%.lock}" = "$f" ] && [ ! -f "results/answer/classifier_cache/$(basename "$f")" ] \
        && cp "$f" results/answer/classifier_cache/ && git add -f "results/answer/classifier_cache/$(basename "$f")"
    done
    n=$(git diff --cached --name-only -- results/answer | grep -c summary.json)
    git commit -q -m "answer study: $n more finished run(s) (small files)" -- results/answer >/dev/null 2>&1
  fi
  sleep 180
done
