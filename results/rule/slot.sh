#!/usr/bin/env bash
# slot.sh SLOT: run the studies listed in /work/SLOT.queue ("STUDY_YAML OUT_DIR" per line) one after another,
# on the frozen code in /work/gan-frozen-40, one job and one thread each; output under /work/main/OUT_DIR.
# Re-reads the queue after each study so lines can be appended while it runs; skips finished ones (a study
# that finishes writes OUT_DIR/.slot_done).
slot=$1
echo "$(date -u +%FT%TZ) $slot starts on $(/work/main/.venv/bin/python -c 'from gan.train import machine; print(machine.cpu_kind())' 2>/dev/null); $(nproc) cores" >> /work/main/results/rule/machines.log
cd /work/gan-frozen-40
while true; do
  line=$(while read -r y o; do [ -z "$y" ] && continue; [ -f "/work/done/$(basename $o)" ] || { echo "$y $o"; break; }; done < /work/$slot.queue)
  [ -z "$line" ] && { echo "$(date -u +%FT%T) $slot: queue empty"; exit 0; }
  set -- $line
  echo "$(date -u +%FT%T) $slot: start $1 -> $2"
  OMP_NUM_THREADS=1 PYTHONPATH=$PWD /work/main/.venv/bin/python -m gan study "$1" --jobs 1 --threads 1 --out "/work/main/$2" </dev/null
  rc=$?
  echo "$(date -u +%FT%T) $slot: $1 exited $rc"
  if [ $rc = 0 ]; then touch "/work/done/$(basename $2)"; else sleep 60; fi
done
