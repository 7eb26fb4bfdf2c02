#!/usr/bin/env bash
# One variant of the g_s recipe (600 steps of decoder finetuning on real SQ latents), merged into a
# candidate weight file and coded over Kodak (SQ, real files, one generation):
#
#   bash benchmarks/release/gs_recipe.sh TAG CHECKPOINT LAMBDA [licq finetune options]
#   bash benchmarks/release/gs_recipe.sh q2-b4-lr2 /root/licq-ws5/q2/checkpoint.pt 0.0035 \
#       --steps 600 --lr 2e-5 --saturation 0.25 --idempotence 4
#
# Work goes to $LICQ_GS (default /root/licq-gs): ft/TAG (the run), TAG-merged.pt (the candidate for
# benchmarks/recompression.py, synthetic_drift.py and adoption_check.py), TAG-sq.json (licq eval).
# The screening on q2 and q3 (2026-11-27) is in results/finetune/gs-recipe/ (docs/training.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:?usage: gs_recipe.sh TAG CHECKPOINT LAMBDA [finetune options]}; base=${2:?}; lmbda=${3:?}; shift 3
W=${LICQ_GS:-/root/licq-gs}; mkdir -p "$W/ft"
py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python
[ -x .venv/bin/licq ] && PATH=$PWD/.venv/bin:$PATH
licq finetune ../shared/data/train --base "$base" --arch mbt2018-mean --lmbda "$lmbda" --quantizer sq --train dec \
  --threads "${THREADS:-1}" --exclude results/finetune/heldout.txt --out "$W/ft/$tag" "$@" > "$W/ft/$tag.log" 2>&1
$py -m licq.zoo.export "$base" --with-decoder "$W/ft/$tag" --candidate "$W/$tag-merged.pt" > /dev/null
licq eval ../shared/data/kodak --model "$W/$tag-merged.pt" --arch mbt2018-mean --name "$tag" --out "$W/$tag-sq.json" --quiet --no-msssim
