#!/usr/bin/env bash
# Rate-distortion of the zoo on a set of photos, next to WebP, JPEG and AVIF on the same images:
# licq SQ, TCQ-8 with the finetuned decoders and RDOQ, plot, BD-rate tables. heldout_rd.sh and
# unseen_rd.sh run it on their sets.
#
#   bash benchmarks/photos_rd.sh OUTDIR TITLE IMAGE...
#
# Environment: PLOTS_ONLY=1 codes nothing (plot and tables from the files in OUTDIR); FRESH=1 codes
# every row again; EFFORT1=1 / EFFORT2=1 add SQ at --effort 1 / 2; TCQ8_BASE=1 adds TCQ-8 with the
# base decoders (--finetuned none: what the finetuned ones gain here); VR=licq-vr (or a channel-vr
# weight file) adds a variable-rate model at qualities 1-7, named VR_NAME (default "licq channel-vr"),
# and VR_TCQ8=1 its TCQ-8 curves: base decoder and, as licq encode codes, the zoo's finetuned one
# where the zoo has one (its licq-vr-tcq8-ft.json is left over otherwise: delete it with the decoder).
set -euo pipefail
cd "$(dirname "$0")/.."
R=${1:?usage: photos_rd.sh OUTDIR TITLE IMAGE...}
TITLE=${2:?usage: photos_rd.sh OUTDIR TITLE IMAGE...}
shift 2
IMGS=("$@")
[ ${#IMGS[@]} -gt 0 ] || { echo "photos_rd.sh: no images" >&2; exit 2; }
L=.venv/bin/licq
mkdir -p "$R"
# rows of the existing results files are reused where image bytes, weights and licq version still match
# (licq eval --resume: after replacing one zoo model only its images are coded); FRESH=1 codes all
RESUME=--resume; [ -z "${FRESH:-}" ] || RESUME=
if [ -z "${PLOTS_ONLY:-}" ]; then
  $L eval "${IMGS[@]}" --all-qualities --name "licq SQ" --out $R/licq-sq.json --quiet $RESUME
  $L eval "${IMGS[@]}" --all-qualities --quantizer tcq --states 8 --finetuned auto \
    --name "licq TCQ-8 + finetuned decoders" --out $R/licq-tcq8-ft.json --quiet $RESUME
  [ -z "${TCQ8_BASE:-}" ] || $L eval "${IMGS[@]}" --all-qualities --quantizer tcq --states 8 --finetuned none \
    --name "licq TCQ-8, base decoders" --out $R/licq-tcq8.json --quiet $RESUME
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
  # issue 15's encoder search, only when asked (EFFORT1=1; --resume keeps finished rows)
  [ -z "${EFFORT1:-}" ] || $L eval "${IMGS[@]}" --all-qualities --effort 1 --name "licq SQ, effort 1" \
    --out $R/licq-sq-effort1.json --quiet $RESUME
  # effort 2 (about 3x effort 1: well over an hour on one thread for 50 small photos): EFFORT2=1
  [ -z "${EFFORT2:-}" ] || $L eval "${IMGS[@]}" --all-qualities --effort 2 --name "licq SQ, effort 2" \
    --out $R/licq-sq-effort2.json --quiet $RESUME
  # the variable-rate model of docs/variable-rate.md, where a weight file is given
  vr_arch=(); [ -f "${VR:-}" ] && vr_arch=(--arch channel-vr)  # a weight file; a zoo name (licq-vr) needs none
  [ -z "${VR:-}" ] || $L eval "${IMGS[@]}" --model "$VR" "${vr_arch[@]}" --all-qualities \
    --name "${VR_NAME:-licq channel-vr}" --out $R/licq-vr.json --quiet $RESUME
  if [ -n "${VR:-}" ] && [ -n "${VR_TCQ8:-}" ]; then
    $L eval "${IMGS[@]}" --model "$VR" "${vr_arch[@]}" --all-qualities --quantizer tcq --states 8 --finetuned none \
      --name "$(basename "$VR" .pt) TCQ-8, base decoder" --out $R/licq-vr-tcq8.json --quiet $RESUME
    if $L models | grep -q "^$(basename "$VR" .pt)-ft-tcq8-dec "; then  # where the zoo has one
      $L eval "${IMGS[@]}" --model "$VR" "${vr_arch[@]}" --all-qualities --quantizer tcq --states 8 --finetuned auto \
        --name "$(basename "$VR" .pt) TCQ-8 + finetuned decoder" --out $R/licq-vr-tcq8-ft.json --quiet $RESUME
    fi
  fi
fi
EFFORTS=$(ls $R/licq-sq-effort[123].json 2>/dev/null || true)  # optional, where measured
RDOQ=$(ls $R/licq-rdoq.json 2>/dev/null || true)
VRF=$(ls $R/licq-vr.json 2>/dev/null || true)
TCQ8=$(ls $R/licq-tcq8.json 2>/dev/null || true)  # optional, where measured
VR_TCQ=$(ls $R/licq-vr-tcq8.json $R/licq-vr-tcq8-ft.json 2>/dev/null || true)  # optional, where measured
$L plot $R/licq-sq.json $R/licq-tcq8-ft.json $VRF $R/webp.json $R/jpeg.json $R/avif.json \
  -o $R/rd.png --xmax 1.5 --title "$TITLE"
{
  $L bdrate $R/webp.json $R/licq-sq.json $R/licq-tcq8-ft.json $VRF $R/jpeg.json $R/avif.json $EFFORTS
  echo
  $L bdrate $R/webp.json $R/licq-sq.json $R/licq-tcq8-ft.json $VRF $R/avif.json --metric ms-ssim-rgb
  echo
  $L bdrate $R/licq-sq.json $R/licq-tcq8-ft.json $TCQ8 $RDOQ $EFFORTS $VRF
  [ -z "$TCQ8" ] || { echo; $L bdrate $TCQ8 $R/licq-tcq8-ft.json; }  # what the finetuned decoders gain
  [ -z "$RDOQ" ] || { echo; $L bdrate $RDOQ $R/licq-tcq8-ft.json; }  # issue 13: TCQ against RD-optimised rounding
  echo; $L bdrate $R/avif.json $R/licq-sq.json $VRF  # issue 42: against AVIF
  [ -z "$VRF" ] || [ -z "$VR_TCQ" ] || { echo; $L bdrate $VRF $VR_TCQ; }  # issue 42: the vr model's TCQ-8 against its SQ
} | tee $R/bdrate.txt
$L bdrate $R/webp.json $R/licq-sq.json $R/licq-tcq8-ft.json $VRF $R/jpeg.json $R/avif.json --json > $R/bdrate-vs-webp.json
