#!/usr/bin/env bash
# Kodak rate-distortion of the whole zoo on real bitstreams: SQ (Δ = 1), TCQ-4 / TCQ-8 (each
# model's swept defaults; TCQ-8 also with the zoo's finetuned decoders, as `licq encode` uses
# them), fixed-grid SQ (with the zoo's finetuned decoders where it has them) and RDOQ (λ 0.01, in
# the BD-rate tables only), the RD plot beside CompressAI's published mbt2018-mean, BPG and the
# classic codecs (results/kodak/<codec>.json from benchmarks/baselines_kodak.sh), and BD-rate tables;
# licq-vr with SQ and TCQ-8 (base and finetuned decoder) where the zoo has them.
set -euo pipefail
cd "$(dirname "$0")/.."
KODAK=${KODAK:-../shared/data/kodak}
L=.venv/bin/licq
A=results/anchors/kodak
R=results/kodak
mkdir -p $R
# rows of the existing results files are reused where image bytes, weights and licq version still match
# (licq eval --resume: after replacing one zoo model only its images are coded); FRESH=1 codes all
RESUME=--resume; [ -z "${FRESH:-}" ] || RESUME=
# effort 3 (200 iterations, about 3.3x effort 2) only when asked: EFFORT3=1. It takes hours on this CPU:
# --resume keeps the images that an interrupted run finished (licq-sq-effort3.json.partial.jsonl).
# --effort3-only runs just these rows (ship_model.sh starts them as soon as a model's weights are in)
effort3() {
  $L eval "$KODAK" --all-qualities --effort 3 --name "licq SQ, effort 3" --out $R/licq-sq-effort3.json --quiet $RESUME
}
if [ "${1:-}" = "--effort3-only" ]; then effort3; exit; fi
if [ "${1:-}" != "--plots-only" ]; then  # --plots-only: redo plot and tables from existing results
  $L eval "$KODAK" --all-qualities --name "licq SQ" --out $R/licq-sq.json --quiet $RESUME
  $L eval "$KODAK" --all-qualities --quantizer tcq --states 4 --name "licq TCQ-4" --out $R/licq-tcq4.json --quiet $RESUME
  $L eval "$KODAK" --all-qualities --quantizer tcq --states 8 --finetuned none --name "licq TCQ-8" --out $R/licq-tcq8.json --quiet $RESUME
  $L eval "$KODAK" --all-qualities --quantizer tcq --states 8 --finetuned auto --name "licq TCQ-8 + finetuned decoders" \
    --out $R/licq-tcq8-ft.json --quiet $RESUME
  $L eval "$KODAK" --all-qualities --quantizer sq-grid --finetuned auto --name "licq SQ fixed grid" \
    --out $R/licq-sq-grid.json --quiet $RESUME
  $L eval "$KODAK" --all-qualities --quantizer rdoq --tcq-lambda 0.01 --name "licq RDOQ (λ 0.01)" \
    --out $R/licq-rdoq.json --quiet $RESUME  # λ 0.01: the best of results/tcq/README.md 4d (the default is too large)
  # issue 15's slower encoder (about 25x plain encoding); SKIP_EFFORT=1 leaves the old file
  [ -n "${SKIP_EFFORT:-}" ] || $L eval "$KODAK" --all-qualities --effort 1 --name "licq SQ, effort 1" \
    --out $R/licq-sq-effort1.json --quiet $RESUME
  # effort 2 (about 3x effort 1: 42 min on one shared thread) only when asked: EFFORT2=1
  [ -z "${EFFORT2:-}" ] || $L eval "$KODAK" --all-qualities --effort 2 --name "licq SQ, effort 2" \
    --out $R/licq-sq-effort2.json --quiet $RESUME
  [ -z "${EFFORT3:-}" ] || effort3
  # the variable-rate licq-vr at its seven anchor qualities (where the zoo has it): SQ, TCQ-8 with its
  # base decoder, and TCQ-8 with its finetuned decoder where the zoo has one (as licq encode codes)
  if $L models | grep -q '^licq-vr '; then
    $L eval "$KODAK" --model licq-vr --all-qualities --name "licq-vr SQ" --out $R/licq-vr.json --quiet $RESUME
    $L eval "$KODAK" --model licq-vr --all-qualities --quantizer tcq --states 8 --finetuned none \
      --name "licq-vr TCQ-8, base decoder" --out $R/licq-vr-tcq8.json --quiet $RESUME
    if $L models | grep -q '^licq-vr-ft-tcq8-dec '; then
      $L eval "$KODAK" --model licq-vr --all-qualities --quantizer tcq --states 8 --finetuned auto \
        --name "licq-vr TCQ-8 + finetuned decoder" --out $R/licq-vr-tcq8-ft.json --quiet $RESUME
    fi
  fi
fi
VR=$(ls $R/licq-vr.json 2>/dev/null || true)  # licq-vr's curve, where measured
VR_TCQ=$(ls $R/licq-vr-tcq8.json $R/licq-vr-tcq8-ft.json 2>/dev/null || true)  # its TCQ-8 curves, where measured
EFFORTS=$(ls $R/licq-sq-effort[123].json 2>/dev/null || true)  # optional: issue 15's encoder, where measured
$L plot $R/licq-sq.json $VR $R/licq-tcq4.json $R/licq-tcq8.json $R/licq-tcq8-ft.json $R/licq-sq-grid.json $A/compressai-mbt2018-mean_mse_cpu.json \
  $A/bpg_444_x265_ycbcr.json $(ls $R/{jpeg,webp,avif,jxl,hevc}.json 2>/dev/null) \
  -o $R/rd.png --xmax 1.2 --title "Kodak (24 images), real bitstreams"
{
  $L bdrate $R/licq-sq.json $R/licq-tcq4.json $R/licq-tcq8.json $R/licq-tcq8-ft.json $R/licq-sq-grid.json $R/licq-rdoq.json $VR
  echo
  $L bdrate $R/licq-rdoq.json $R/licq-tcq8.json $R/licq-tcq8-ft.json  # issue 13: TCQ against RD-optimised rounding
  echo
  $L bdrate $A/compressai-mbt2018-mean_mse_cpu.json $R/licq-sq.json $R/licq-tcq4.json $R/licq-tcq8.json $R/licq-tcq8-ft.json $R/licq-sq-grid.json $VR
  echo
  $L bdrate $A/bpg_444_x265_ycbcr.json $R/licq-sq.json $R/licq-tcq4.json $R/licq-tcq8.json $R/licq-tcq8-ft.json $R/licq-sq-grid.json $VR \
    $(ls $R/{jpeg,webp,avif,jxl,hevc}.json 2>/dev/null)
  if [ -f $R/webp.json ]; then  # issue 12's floor, directly (WebP's ladder reaches down to 0.10 bpp)
    echo
    $L bdrate $R/webp.json $R/licq-sq.json $R/licq-tcq8-ft.json $R/licq-sq-grid.json $EFFORTS $VR
    echo
    $L bdrate $R/webp.json $R/licq-sq.json $R/licq-tcq8-ft.json $R/licq-sq-grid.json $EFFORTS \
      --metric ms-ssim-rgb
  fi
  if [ -n "$EFFORTS" ]; then
    echo
    $L bdrate $R/licq-sq.json $EFFORTS  # issue 15: refinement against plain encoding
  fi
  if [ -n "$VR" ] && [ -n "$VR_TCQ" ]; then
    echo
    $L bdrate $VR $VR_TCQ  # issue 42: licq-vr's TCQ-8 against its SQ
  fi
} | tee $R/bdrate.txt
[ -f $R/webp.json ] && $L bdrate $R/webp.json $R/licq-sq.json $R/licq-tcq8-ft.json $R/licq-sq-grid.json \
  $EFFORTS $VR --json > $R/bdrate-vs-webp.json
$L bdrate $R/licq-sq.json $R/licq-tcq4.json $R/licq-tcq8.json $R/licq-tcq8-ft.json $R/licq-sq-grid.json $R/licq-rdoq.json \
  --json > $R/bdrate-tcq-vs-sq.json
$L bdrate $A/compressai-mbt2018-mean_mse_cpu.json $R/licq-sq.json $R/licq-tcq4.json $R/licq-tcq8.json $R/licq-tcq8-ft.json $R/licq-sq-grid.json $VR --json > $R/bdrate-vs-mbt2018-mean.json
$L bdrate $A/bpg_444_x265_ycbcr.json $R/licq-sq.json $R/licq-tcq4.json $R/licq-tcq8.json $R/licq-tcq8-ft.json $R/licq-sq-grid.json \
  $VR $(ls $R/{jpeg,webp,avif,jxl,hevc}.json 2>/dev/null) --json > $R/bdrate-vs-bpg.json
