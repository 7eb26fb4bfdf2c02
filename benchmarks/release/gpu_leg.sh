#!/usr/bin/env bash
# One GPU leg of the training campaign, for a machine lent a GPU for a short time (15 minutes in all).
#
# Here, before the call (CPU machine, repo root):
#   bash benchmarks/release/gpu_leg.sh prepare [vr]     # fills .gpu/ (git-ignored): wheels, training pack, init weights
#                                              # (the q3 campaign's live checkpoint, or the shipped q3);
#                                              # moves the zoo's weight files aside (the tree must stay < 64 MiB)
# The device call (one command, timeout_s 560; carry [".gpu"]):
#   bash benchmarks/release/gpu_leg.sh run "q1 q2 q3 q4" 5 1.25    # results in $OUT
#   bash benchmarks/release/gpu_leg.sh run vr 7 1.5                # the variable-rate model alone
# Here, after it:
#   bash benchmarks/release/gpu_leg.sh restore         # the zoo's weight files back in the tree
#   bash benchmarks/release/gpu_leg.sh adopt q3 FILES_AT/q3-gpu.pt   # continue the CPU campaign from the GPU weights
#
# `run MODELS MIN1 MIN2` records steps/s of licq and of the plain CompressAI loop on the device
# (benchmarks/train_speed.py), then trains every model of MODELS at once on the one GPU (one
# process each: a model this small leaves most of an H100/H200 idle), all warm-started from
# .gpu/init.pt with their own lambda: MIN1 minutes at lr $LR (default 1e-4), then MIN2 minutes
# resumed at lr/10 (the annealing that the CPU release branches do). GPU batch $BATCH (default
# 16), crops 256, colour-saturation boost on a share $SATURATION of the crops (default 0.25,
# `licq train --saturation`). Each model's final weights come back in half precision
# ($OUT/<model>-gpu.pt, < 16 MiB; written after each phase, so a cut call still returns the
# first), with the logs in $OUT/logs.tar.gz and the speed JSON. `vr` is the variable-rate model
# (--arch channel-vr, from .gpu/init-vr.pt: the vr campaign's weights, else its start), at the
# campaign's recipe (vr_recipe.sh; $LR_VR, $FRESH_LR and $QUALITY_BALANCE override it).
set -euo pipefail
cd "$(dirname "$0")/../.."
camp=${LICQ_CAMPAIGN:-/root/licq-campaign}
aside=${LICQ_ZOO_ASIDE:-/root/licq-zoo-aside}
lmbda_of() { case $1 in q1) echo 0.0018 ;; q2) echo 0.0035 ;; q3) echo 0.0067 ;; q4) echo 0.0130 ;;
             vr) echo 0.0067 ;;  # unused by channel-vr: every crop draws its own quality and λ
             *) echo "gpu_leg.sh: unknown model $1" >&2; exit 2 ;; esac; }
# the variable-rate model: its architecture and the recipe of its CPU campaign (campaign.sh)
. benchmarks/release/vr_recipe.sh
FRESH_LR=${FRESH_LR:-$VR_FRESH_LR}
VR_OPTS=(--arch channel-vr --fresh-lr "$FRESH_LR" --quality-balance "${QUALITY_BALANCE:-$VR_QUALITY_BALANCE}")

prepare() {  # [MODELS]: what the pack is for (default "q1 q2 q3 q4"); vr adds its photos and weights
  local py=${PYTHON:-.venv/bin/python} models=${1:-q1 q2 q3 q4}
  for m in $models; do lmbda_of "$m" >/dev/null; done
  local with_vr=0 with_zoo=0
  [[ " $models " == *" vr "* ]] && with_vr=1
  [[ " $models " == *" q"* ]] && with_zoo=1
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.gpu/' >> .git/info/exclude; }
  rm -rf .gpu && mkdir -p .gpu/whl .gpu/data
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    -d .gpu/whl compressai==1.2.8 pytorch-msssim
  # training pack: every training photo, shorter side at most 288 px, JPEG q85 (the whole pool
  # fits in ~35 MiB; a 256 crop then spans 0.89-1x of the short side instead of the CPU
  # campaign's random 0.5-0.75x downscale of the full-size photos). With vr: also the man-made
  # scenes it trains on, at JPEG q75 so that the pack and the vr weights stay under 64 MiB.
  WITH_VR=$with_vr "$py" - <<'EOF'
import os
from PIL import Image
from licq.training.data import list_images
vr = os.environ["WITH_VR"] == "1"
extra = os.environ.get("EXTRA_DATA", "/root/licq-data/structures")
folders = ["../shared/data/train"] + ([extra] if vr and os.path.isdir(extra) else [])
quality = int(os.environ.get("PACK_QUALITY", 75 if vr else 85))
for i, f in enumerate(list_images(folders)):
    with Image.open(f) as im:
        im = im.convert("RGB")
        s = min(1.0, 288 / min(im.size))
        if s < 1:
            im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
        im.save(f".gpu/data/{i:04d}.jpg", quality=quality)
print(f"training pack: {i + 1} photos from {', '.join(folders)}, JPEG q{quality}")
EOF
  # init: the q3 campaign's live weights (half precision), else the shipped q3; for vr, the vr
  # campaign's live weights where it has some, else the campaign's start (campaign.sh: the shipped
  # licq-vr where the zoo has it, else licq-q4)
  local vr_start=src/licq/zoo/licq-vr.pt
  [ -f "$vr_start" ] || vr_start=src/licq/zoo/licq-q4.pt
  WITH_VR=$with_vr WITH_ZOO=$with_zoo "$py" - "$camp/q3/checkpoint.pt" src/licq/zoo/licq-q3.pt "$camp/vr/checkpoint.pt" \
    "$vr_start" <<'EOF'
import os, sys, torch
from pathlib import Path
from licq.models.io import half_state
live, shipped, vr, vr_start = map(Path, sys.argv[1:])
notes = []
with_vr = os.environ["WITH_VR"] == "1"
vr_live = with_vr and vr.is_file()
if os.environ["WITH_ZOO"] == "1" or not with_vr:
    if live.is_file():
        ck = torch.load(live, map_location="cpu", weights_only=True)
        torch.save(half_state(ck["model"]), ".gpu/init.pt")
        notes.append(f"{live} step {ck['step']}")
    else:
        Path(".gpu/init.pt").write_bytes(shipped.read_bytes())
        notes.append(str(shipped))
if vr_live:
    ck = torch.load(vr, map_location="cpu", weights_only=True)
    torch.save(half_state(ck["model"]), ".gpu/init-vr.pt")
    notes.append(f"vr: {vr} step {ck['step']}")
elif with_vr:
    Path(".gpu/init-vr.pt").write_bytes(vr_start.read_bytes())
    notes.append(f"vr: {vr_start}")
Path(".gpu/init.txt").write_text("\n".join(notes) + "\n")
print("init weights:", "; ".join(notes))
EOF
  mkdir -p "$aside" && mv src/licq/zoo/*.pt "$aside"/ 2>/dev/null || true
  du -sh .gpu; echo "zoo weights moved to $aside (bash $0 restore)"
  local total
  total=$(( $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) + $(du -sb .gpu | cut -f1) ))
  echo "tree + .gpu: $(( total / 1048576 )) MiB (the device call carries at most 64)"
  [ "$total" -lt $(( 64 * 1048576 )) ] || { echo "gpu_leg.sh: over 64 MiB" >&2; exit 1; }
}

train_one() {  # model minutes1 minutes2 out
  local model=$1 m1=$2 m2=$3 out=$4 lmbda run=/tmp/leg/$1 lr=${LR:-1e-4} init=.gpu/init.pt arch=() anneal=()
  lmbda=$(lmbda_of "$model")
  if [ "$model" = vr ]; then
    arch=("${VR_OPTS[@]}") && lr=${LR_VR:-$VR_LR} && anneal=(--fresh-lr "$(python3 -c "print($FRESH_LR / 10)")")
    [ -f .gpu/init-vr.pt ] && init=.gpu/init-vr.pt
  fi
  [ -f "$init" ] || { echo "gpu_leg.sh: $init missing: run prepare with $model" >&2; return 1; }
  local common=(.gpu/data --out "$run" --N 128 --M 192 --lmbda "$lmbda" --steps 1000000 --batch "${BATCH:-16}"
                --crop 256 --precision "${PRECISION:-auto}" --workers "${WORKERS:-3}" --threads 2 --checkpoint-every 500
                --saturation "${SATURATION:-0.25}" "${arch[@]}")
  # each phase under `timeout` too: a stuck process must not eat the other models' results
  timeout $(( ${m1%.*} * 60 + 150 )) python3 -m licq.cli train "${common[@]}" --lr "$lr" --max-minutes "$m1" \
    --warm-start "$init" > "$run.phase1.txt" 2>&1 || echo "$model phase 1 exit $?" >> "$run.phase1.txt"
  export_one "$model" "$out"
  timeout $(( ${m2%.*} * 60 + 150 )) python3 -m licq.cli train "${common[@]}" --resume \
    --lr "$(python3 -c "print($lr / 10)")" "${anneal[@]}" --max-minutes "$m2" > "$run.phase2.txt" 2>&1 \
    || echo "$model phase 2 exit $?" >> "$run.phase2.txt"
  export_one "$model" "$out"
}

export_one() {
  python3 - "/tmp/leg/$1/checkpoint.pt" "$2/$1-gpu.pt" <<'EOF' || true
import sys, torch
from licq.models.io import half_state
ck = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
torch.save(half_state(ck["model"]), sys.argv[2] + ".part")
import os; os.replace(sys.argv[2] + ".part", sys.argv[2])
print(sys.argv[2], "steps", ck["step"], "elapsed_s", round(ck["elapsed_s"], 1))
EOF
}

run() {
  local models=$1 m1=${2:-5} m2=${3:-1.25}
  for m in $models; do lmbda_of "$m" >/dev/null; done
  local out=${OUT:-/tmp/gpu-leg-out}
  mkdir -p "$out" && rm -rf /tmp/leg && mkdir -p /tmp/leg
  [ -n "${SKIP_WHEELS:-}" ] ||  # (a CPU rehearsal with licq's own venv first on PATH sets SKIP_WHEELS=1)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > /tmp/leg/device.txt 2>&1 || true
  cp .gpu/init.txt /tmp/leg/init.txt
  [ -n "${SKIP_SPEED:-}" ] || timeout 90 python3 benchmarks/train_speed.py --data .gpu/data \
    --steps "${SPEED_STEPS:-30}" --rounds 1 --warmup 5 --precisions bf16 fp32 --threads 8 \
    --out "$out/train_speed_gpu.json" > /tmp/leg/speed.txt 2>&1 || echo "speed exit $?" >> /tmp/leg/speed.txt
  tail -n 6 /tmp/leg/speed.txt 2>/dev/null || true
  local pids=()
  for m in $models; do train_one "$m" "$m1" "$m2" "$out" & pids+=($!); done
  ( while sleep 30; do nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; done ) \
    > /tmp/leg/gpu-util.txt 2>&1 & local mon=$!
  wait "${pids[@]}" || true
  kill "$mon" 2>/dev/null || true
  for m in $models; do
    cp /tmp/leg/$m/log.csv /tmp/leg/$m-log.csv 2>/dev/null || true
    cp /tmp/leg/$m/config.json /tmp/leg/$m-config.json 2>/dev/null || true
    tail -n 2 /tmp/leg/$m-log.csv 2>/dev/null || true; tail -n 3 /tmp/leg/$m.phase2.txt 2>/dev/null | tr '\r' '\n' | tail -n 2
  done
  tar -czf "$out/logs.tar.gz" -C /tmp/leg --exclude='*/checkpoint.pt' --exclude='*/snapshots' \
    $(cd /tmp/leg && ls -d *.txt *.csv *.json 2>/dev/null)
  ls -la "$out"
}

restore() { mv "$aside"/*.pt src/licq/zoo/ && git status --short src/licq/zoo; }

adopt() {
  # a new CPU campaign run warm-started from the GPU leg's weights; the old run is kept beside it
  local model=$1 weights=$2
  [ -d "$camp/$model" ] && mv "$camp/$model" "$camp/$model.before-gpu-$(date +%Y%m%d%H%M)"
  mkdir -p "$camp/$model" && cp "$weights" "$camp/$model/gpu-init.pt"
  echo "start: nohup bash benchmarks/release/campaign.sh $model --warm-start $camp/$model/gpu-init.pt > $camp/$model.log 2>&1 &"
}

cmd=${1:-}; shift || true
case $cmd in
  prepare|run|adopt) "$cmd" "$@" ;;
  restore) restore ;;
  *) echo "usage: gpu_leg.sh prepare [MODELS] | run MODELS [MIN1 [MIN2]] | restore | adopt MODEL WEIGHTS" >&2; exit 2 ;;
esac
