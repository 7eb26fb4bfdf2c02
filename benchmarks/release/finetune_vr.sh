#!/usr/bin/env bash
# The paper's table on licq-vr: its decoder, and decoder + entropy-parameter networks, finetuned on
# real SQ and TCQ-8 latents, on Kodak and the 50 held-out photos (finetune_zoo.sh's table, for the
# variable-rate model; every curve has licq-vr's seven qualities).
#
#   bash benchmarks/release/finetune_vr.sh                   # everything; resumes where it stopped
#   bash benchmarks/release/finetune_vr.sh sq-ft-dec ...     # only these variants (their runs, then
#                                                            # their curves), e.g. beside a running one
#   W=/path/to/runs THREADS=2 bash benchmarks/release/finetune_vr.sh
#
# Variants: sq and tcq8 (the shipped weights, base decoder), tcq8-ft-dec (the shipped
# licq-vr-ft-tcq8-dec, trained by `ship_vr.sh tcq`), and sq-ft-dec, sq-ft-dechd, tcq8-ft-dechd and
# the control sq-ctl-noise (the decoder trained on noisy latents instead of quantized ones):
# the shipped decoder's recipe (1600 steps at 5e-5, crops of 128 from the photos and the man-made
# scenes, saturation and colour-wave crops 0.25, seed 5, held-out list excluded) with the quantizer
# and the trained parts changed; sq-ft-dec-idem goes on from sq-ft-dec's run for 300 steps with the
# idempotence term (against the re-encoding runaway the adoption rule checks). Each is laid over
# the shipped weights as one half-precision file (`python -m licq.zoo.export licq-vr --with-decoder
# RUN --candidate FILE`) and measured as a weight file. Then `python benchmarks/finetune_tables.py --folder results/finetune/vr` writes the
# tables and plots.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python
[ -x .venv/bin/licq ] && PATH=$PWD/.venv/bin:$PATH
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
W=${W:-runs/ft-vr}
OUT=results/finetune/vr
KODAK=${KODAK:-../shared/data/kodak}
DATA=${DATA:-../shared/data/train}
data=("$DATA"); extra=${EXTRA_DATA:-/root/licq-data/structures}; [ -d "$extra" ] && data+=("$extra")
mapfile -t HELDOUT < <(sed "s|^|$DATA/|" results/finetune/heldout.txt)
mkdir -p "$W" "$OUT/kodak" "$OUT/heldout"

# finetune run $W/TAG (QUANTIZER, TRAIN, more finetune options) and its merged file $W/TAG.pt
candidate() {
  local tag=$1 quant=$2 train=$3 args=(--quantizer "$2" --train "$3" "${@:4}")
  [ "$quant" = tcq ] && args+=(--states 8)
  [ -f "$W/$tag/decoder.pt" ] || OMP_NUM_THREADS=${THREADS:-1} licq finetune "${data[@]}" --base licq-vr "${args[@]}" \
    --steps 1600 --lr 5e-5 --crop 128 --saturation 0.25 --waves 0.25 --seed 5 --threads "${THREADS:-1}" \
    --exclude results/finetune/heldout.txt --out "$W/$tag" --resume > "$W/$tag.log" 2>&1
  [ -f "$W/$tag.pt" ] || $py -m licq.zoo.export licq-vr --with-decoder "$W/$tag" --candidate "$W/$tag.pt" > /dev/null
}

# a second stage $W/TAG on the finished run $W/FROM (`licq finetune --init`): 300 steps at 2e-5 with the
# idempotence term over two re-encodings (ship_vr.sh's candidate recipe), new crops (seed 6); merged into $W/TAG.pt
second_stage() {
  local tag=$1 from=$2
  [ -f "$W/$tag/decoder.pt" ] || OMP_NUM_THREADS=${THREADS:-1} licq finetune "${data[@]}" --base licq-vr --quantizer sq \
    --train dec --init "$W/$from" --steps 300 --lr 2e-5 --crop 128 --saturation 0.25 --waves 0.25 --seed 6 \
    --idempotence 8 --idempotence-generations 2 --threads "${THREADS:-1}" --exclude results/finetune/heldout.txt \
    --out "$W/$tag" --resume > "$W/$tag.log" 2>&1
  [ -f "$W/$tag.pt" ] || $py -m licq.zoo.export licq-vr --with-decoder "$W/$tag" --candidate "$W/$tag.pt" > /dev/null
}

# one variant's curves on both sets: NAME, then licq eval's model and quantizer options
curves() {
  local name=$1; shift
  for set in kodak heldout; do
    local out=$OUT/$set/$name.json
    [ -f "$out" ] && continue
    if [ "$set" = kodak ]; then inputs=("$KODAK"); else inputs=("${HELDOUT[@]}"); fi
    OMP_NUM_THREADS=${THREADS:-1} licq eval "${inputs[@]}" "$@" --all-qualities --name "$name" --quiet \
      --out "$out" --resume
  done
}

variant() {
  case $1 in
    sq) curves sq --model licq-vr --finetuned none ;;
    tcq8) curves tcq8 --model licq-vr --quantizer tcq --states 8 --finetuned none ;;
    tcq8-ft-dec) curves tcq8-ft-dec --model licq-vr --quantizer tcq --states 8 --finetuned dec ;;
    sq-ft-dec) candidate sq-dec sq dec
      curves sq-ft-dec --model "$W/sq-dec.pt" --arch channel-vr ;;
    sq-ft-dec-idem) candidate sq-dec sq dec; second_stage sq-dec-s2 sq-dec
      curves sq-ft-dec-idem --model "$W/sq-dec-s2.pt" --arch channel-vr ;;
    sq-ft-dechd) candidate sq-dechd sq dec+hyperdec
      curves sq-ft-dechd --model "$W/sq-dechd.pt" --arch channel-vr ;;
    sq-ctl-noise) candidate sq-ctl-noise sq dec --control noise
      curves sq-ctl-noise --model "$W/sq-ctl-noise.pt" --arch channel-vr ;;
    tcq8-ft-dechd) candidate tcq8-dechd tcq dec+hyperdec
      curves tcq8-ft-dechd --model "$W/tcq8-dechd.pt" --arch channel-vr --quantizer tcq --states 8 ;;
    *) echo "finetune_vr.sh: unknown variant $1 (sq, tcq8, tcq8-ft-dec, sq-ft-dec, sq-ft-dec-idem, sq-ft-dechd," \
         "sq-ctl-noise, tcq8-ft-dechd)" >&2
       exit 2 ;;
  esac
}

variants=("$@"); [ $# -gt 0 ] || variants=(sq tcq8 tcq8-ft-dec sq-ft-dec sq-ft-dec-idem sq-ft-dechd sq-ctl-noise tcq8-ft-dechd)
for v in "${variants[@]}"; do variant "$v"; done
$py benchmarks/finetune_tables.py --folder "$OUT"
