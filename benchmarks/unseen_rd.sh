#!/usr/bin/env bash
# Rate-distortion on photos no licq training has seen: 24 street and facade photos (JPEGs of 683x512
# or 512x683, one 768x512; Cambridge, Mallorca, Barcelona, Boston...) of the LabelMeFacade test split, listed with their
# source and terms in benchmarks/release/data/facades.json; next to WebP, JPEG and AVIF (photos_rd.sh).
# No licq training pool holds them: ../shared/data/train and the vr campaign's structures folder
# come from other sources. Issue 42: "no set where licq falls behind WebP".
#
#   bash benchmarks/unseen_rd.sh [--plots-only]
#
# FACADES: the folder of the photos (default ~/licq-data/facades). Where it is missing it is built
# from a local clone of cvjena/labelmefacade under MIRRORS (a folder of bare clones named
# owner+name), as make_structures.py describes. VR=WEIGHTS (and VR_NAME) add the variable-rate model.
set -euo pipefail
cd "$(dirname "$0")/.."
FACADES=${FACADES:-$HOME/licq-data/facades}
LIST=benchmarks/release/data/facades.json
if [ -z "$(ls "$FACADES"/facade_*.jpg 2>/dev/null)" ] && [ "${1:-}" != "--plots-only" ]; then
  [ -n "${MIRRORS:-}" ] || { echo "unseen_rd.sh: $FACADES holds no photos; set FACADES, or MIRRORS to build it from a clone of cvjena/labelmefacade" >&2; exit 2; }
  .venv/bin/python benchmarks/release/data/make_structures.py --mirrors "$MIRRORS" --list $LIST --out "$FACADES"
fi
mapfile -t IMGS < <(.venv/bin/python -c 'import json, sys
print("\n".join(sys.argv[2] + "/" + e["file"] for e in json.load(open(sys.argv[1]))))' $LIST "$FACADES")
[ "${1:-}" != "--plots-only" ] || export PLOTS_ONLY=1
bash benchmarks/photos_rd.sh results/unseen/facades "24 unseen street photos (LabelMeFacade), real bitstreams" "${IMGS[@]}"
