#!/usr/bin/env bash
# Commit the answer studies' finished runs (small files only) every 10 minutes while they train, so a session
# that ends mid-study loses at most the runs in flight. Run from the repository root: nohup results/answer/keep.sh &
set -u
while true; do
  if [ ! -e .git/index.lock ]; then
    for study in results/answer/*/; do
      [ -d "$study/runs" ] && .venv/bin/python results/answer/runs_git.py pack "$study" | xargs -r -d '\n' git add -f --
    done
    n=$(git diff --cached --name-only -- results/answer | grep -c summary.json)
    git commit -q -m "answer study: $n more finished run(s) (small files)" -- results/answer >/dev/null 2>&1
  fi
  sleep 600
done
