#!/usr/bin/env bash
# The headline figures from this tree (`make results`): Kodak RD plot and BD-rate tables
# (results/kodak/rd.png, bdrate.txt, bdrate-*.json), the held-out photos (results/heldout/), the
# unseen street photos where their folder is built (results/unseen/) and results/README.md.
# Needs ../shared/data/kodak and ../shared/data/train (KODAK, DATA override).
#
#   make results                          # licq rows reused where image, weights and licq version match
#   FRESH=1 make results                  # every row coded again, classic codecs too (where installed)
#   SKIP_EFFORT= make results             # also Kodak's effort-1 rows (about 25x plain encoding)
#
# Classic codecs: with FRESH=1, baselines_kodak.sh recodes those whose encoder is installed here;
# the committed file of a codec whose encoder is missing (jxl: libjxl-tools, hevc: ffmpeg with
# libx265) is kept, and the script says so. Without FRESH=1 the committed classic-codec files are
# kept. Efforts 2 and 3 (hours) are never run here: EFFORT2=1 / EFFORT3=1 bash benchmarks/kodak_rd.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
stamp() { echo "[results.sh $(date -u +%H:%M:%S), $(( $(date +%s) - start )) s] $*"; }
KODAK=${KODAK:-../shared/data/kodak}
DATA=${DATA:-../shared/data/train}
for d in "$KODAK" "$DATA"; do
  [ -d "$d" ] || { echo "results.sh: $d is missing (set KODAK / DATA)" >&2; exit 2; }
done
export KODAK DATA SKIP_EFFORT=${SKIP_EFFORT-1}
if [ -n "${FRESH:-}" ]; then
  stamp "classic codecs on Kodak"
  KEEP_MISSING=1 bash benchmarks/baselines_kodak.sh
else
  echo "classic codecs on Kodak: the committed results/kodak/<codec>.json kept (FRESH=1 recodes them)"
fi
stamp "Kodak: kodak_rd.sh (FRESH=${FRESH:-} SKIP_EFFORT=$SKIP_EFFORT)"
bash benchmarks/kodak_rd.sh
stamp "held-out photos: heldout_rd.sh"
bash benchmarks/heldout_rd.sh
if ls "${FACADES:-$HOME/licq-data/facades}"/facade_*.jpg > /dev/null 2>&1 || [ -n "${MIRRORS:-}" ]; then
  stamp "unseen photos: unseen_rd.sh"
  bash benchmarks/unseen_rd.sh
else
  echo "unseen photos: the committed results/unseen/ kept (no FACADES folder; MIRRORS=DIR builds it, see unseen_rd.sh)"
fi
stamp "results/README.md"
.venv/bin/python benchmarks/results_tables.py > results/README.md.part
mv results/README.md.part results/README.md
stamp "done"
