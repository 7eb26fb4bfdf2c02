#!/usr/bin/env bash
# Rate-distortion on the 50 held-out training-pool photos (results/finetune/heldout.txt), next to
# WebP, JPEG and AVIF on the same images: issue 12's "the same on images we never saw".
#
#   bash benchmarks/heldout_rd.sh [--plots-only]
#
# Caveat, kept in the results: the finetuned decoders never saw these images (finetuning excludes
# the list), but the end-to-end zoo models did (the campaign trains on the whole pool). Kodak is the
# only set no licq training has seen; ../shared has no other photos.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/train}
L=.venv/bin/licq
R=results/heldout
mkdir -p $R
# rows of the existing results files are reused where image bytes, weights and licq version still match
# (licq eval --resume: after replacing one zoo model only its images are coded); FRESH=1 codes all
RESUME=--resume; [ -z "${FRESH:-}" ] || RESUME=
mapfile -t IMGS < <(sed "s|^|$DATA/|" results/finetune/heldout.txt)
if [ "${1:-}" != "--plots-only" ]; then
  $L eval "${IMGS[@]}" --all-qualities --name "licq SQ" --out $R/licq-sq.json --quiet $RESUME
  $L eval "${IMGS[@]}" --all-qualities --quantizer tcq --states 8 --finetuned auto \
    --name "licq TCQ-8 + finetuned decoders" --out $R/licq-tcq8-ft.json --quiet $RESUME
  # issue 13's baseline: RD-optimised rounding at λ 0.01, as in kodak_rd.sh (a few minutes)
  $L eval "${IMGS[@]}" --all-qualities --quantizer rdoq --tcq-lambda 0.01 --name "licq RDOQ (λ 0.01)" \
    --out $R/licq-rdoq.json --quiet $RESUME
  # a classic codec's file is kept when it records this very command (same photos, default qualities):
  # recoding it changes only its timings and commit; FRESH=1 codes it again (e.g. after a codec upgrade)
  # where its encoder is installed (else the committed file is kept)
  for codec in webp jpeg avif; do
    cmd=(baseline "${IMGS[@]}" --codec $codec --out $R/$codec.json --quiet)
    if [ -z "${FRESH:-}" ] && .venv/bin/python -c 'import json, shlex, sys
sys.exit(json.load(open(sys.argv[1])).get("command") != shlex.join(["licq", *sys.argv[2:]]))' $R/$codec.json "${cmd[@]}" 2>/dev/null; then
      echo "$R/$codec.json: kept (made by the same command; FRESH=1 codes it again)"
    elif [ -f $R/$codec.json ] && ! .venv/bin/python -c 'import sys
from licq.evaluation.baselines import available
sys.exit(not available(sys.argv[1]))' $codec; then
      echo "$R/$codec.json: kept (no $codec encoder here)"
    else
      $L "${cmd[@]}"
    fi
  done
  # issue 15's encoder search on these photos, only when asked (EFFORT1=1; --resume keeps finished rows)
  [ -z "${EFFORT1:-}" ] || $L eval "${IMGS[@]}" --all-qualities --effort 1 --name "licq SQ, effort 1" \
    --out $R/licq-sq-effort1.json --quiet $RESUME
  # effort 2 (about 3x effort 1: 50 photos x 4 models, well over an hour on one thread): EFFORT2=1
  [ -z "${EFFORT2:-}" ] || $L eval "${IMGS[@]}" --all-qualities --effort 2 --name "licq SQ, effort 2" \
    --out $R/licq-sq-effort2.json --quiet $RESUME
fi
EFFORTS=$(ls $R/licq-sq-effort[123].json 2>/dev/null || true)  # optional, where measured
RDOQ=$(ls $R/licq-rdoq.json 2>/dev/null || true)  # measured since 2026-11-28
$L plot $R/licq-sq.json $R/licq-tcq8-ft.json $R/webp.json $R/jpeg.json $R/avif.json \
  -o $R/rd.png --xmax 1.5 --title "50 held-out training-pool photos, real bitstreams"
{
  $L bdrate $R/webp.json $R/licq-sq.json $R/licq-tcq8-ft.json $R/jpeg.json $R/avif.json $EFFORTS
  echo
  $L bdrate $R/webp.json $R/licq-sq.json $R/licq-tcq8-ft.json $R/avif.json --metric ms-ssim-rgb
  echo
  $L bdrate $R/licq-sq.json $R/licq-tcq8-ft.json $RDOQ $EFFORTS
  [ -z "$RDOQ" ] || { echo; $L bdrate $RDOQ $R/licq-tcq8-ft.json; }  # issue 13: TCQ against RD-optimised rounding
} | tee $R/bdrate.txt
$L bdrate $R/webp.json $R/licq-sq.json $R/licq-tcq8-ft.json $R/jpeg.json $R/avif.json --json > $R/bdrate-vs-webp.json
