#!/usr/bin/env bash
# Rate-distortion on the 50 held-out training-pool photos (results/finetune/heldout.txt), next to
# WebP, JPEG and AVIF on the same images: issue 12's "the same on images we never saw".
#
#   bash benchmarks/heldout_rd.sh [--plots-only]
#
# EFFORT1=1 / EFFORT2=1 add SQ at efforts 1 / 2, FRESH=1 codes every row again, VR=licq-vr
# VR_NAME="licq-vr SQ" adds the variable-rate model and VR_TCQ8=1 its TCQ-8 curves (photos_rd.sh).
# Caveat, kept in the results: the finetuned decoders never saw these images (finetuning excludes
# the list), but the end-to-end zoo models did (the campaign trains on the whole pool). Kodak and
# the street photos of unseen_rd.sh are the sets no licq training has seen.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/train}
mapfile -t IMGS < <(sed "s|^|$DATA/|" results/finetune/heldout.txt)
[ "${1:-}" != "--plots-only" ] || export PLOTS_ONLY=1
bash benchmarks/photos_rd.sh results/heldout "50 held-out training-pool photos, real bitstreams" "${IMGS[@]}"
