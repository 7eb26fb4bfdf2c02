#!/usr/bin/env bash
# One GPU leg of the training campaign, for a session that is lent a device (15 minutes in all).
#
# Here, before the call (CPU machine, repo root):
#   bash benchmarks/gpu_leg.sh prepare q3      # fills .gpu/ (git-ignored): wheels, training pack, init weights;
#                                              # moves the zoo's weight files aside (the tree must stay < 64 MiB)
# The device call (one command, timeout_s 560; carry [".gpu"]):
#   bash benchmarks/gpu_leg.sh run q3 7        # 7 minutes of training; results in $OUT
# Here, after it:
#   bash benchmarks/gpu_leg.sh restore         # the zoo's weight files back in the tree
#   bash benchmarks/gpu_leg.sh adopt q3 FILES_AT/q3-gpu.pt   # continue the CPU campaign from the GPU weights
#
# `run` records steps/s of licq and of the plain CompressAI loop on the device
# (benchmarks/train_speed.py), then trains from .gpu/init.pt (the campaign's
# latest weights) with the campaign's settings, GPU batch $BATCH (default 16,
# learning rate unchanged), and writes the final weights in half precision
# ($OUT/<model>-gpu.pt, < 16 MiB), the log and the speed JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
camp=${LICQ_CAMPAIGN:-/root/licq-campaign}
aside=${LICQ_ZOO_ASIDE:-/root/licq-zoo-aside}
lmbda_of() { case $1 in q1) echo 0.0018 ;; q2) echo 0.0035 ;; q3) echo 0.0067 ;; q4) echo 0.0130 ;;
             *) echo "gpu_leg.sh: unknown model $1" >&2; exit 2 ;; esac; }

prepare() {
  local model=$1 py=${PYTHON:-.venv/bin/python}
  lmbda_of "$model" >/dev/null
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.gpu/' >> .git/info/exclude; }
  rm -rf .gpu && mkdir -p .gpu/whl .gpu/data
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    -d .gpu/whl compressai==1.2.8 pytorch-msssim
  # training pack: every training photo, shorter side at most 288 px, JPEG q85 (the campaign crops
  # 256x256 after a random 0.5-0.75x downscale, so little is lost; the whole pool fits in ~35 MiB)
  "$py" - <<'EOF'
from pathlib import Path
from PIL import Image
from licq.training.data import list_images
for i, f in enumerate(list_images(["../shared/data/train"])):
    with Image.open(f) as im:
        im = im.convert("RGB")
        s = min(1.0, 288 / min(im.size))
        if s < 1:
            im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
        im.save(f".gpu/data/{i:04d}.jpg", quality=85)
EOF
  local snap
  snap=$(ls "$camp/$model"/snapshots/step-*.pt 2>/dev/null | tail -n 1 || true)
  [ -n "$snap" ] || snap=src/licq/zoo/licq-$model.pt
  cp "$snap" .gpu/init.pt
  echo "$snap" > .gpu/init.txt
  mkdir -p "$aside" && mv src/licq/zoo/*.pt "$aside"/ 2>/dev/null || true
  du -sh .gpu; echo "init weights: $snap; zoo weights moved to $aside (bash $0 restore)"
}

run() {
  local model=$1 minutes=${2:-7} lmbda
  lmbda=$(lmbda_of "$model")
  local out=${OUT:-/tmp/gpu-leg-out}
  mkdir -p "$out" && rm -rf /tmp/leg
  [ -n "${SKIP_WHEELS:-}" ] ||  # (a CPU rehearsal with licq's own venv first on PATH sets SKIP_WHEELS=1)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$out/device.txt" 2>&1 || true
  [ -n "${SKIP_SPEED:-}" ] || python3 benchmarks/train_speed.py --data .gpu/data --steps "${SPEED_STEPS:-40}" --rounds 1 --warmup 5 \
    --precisions bf16 fp32 --threads 8 --out "$out/train_speed_gpu.json" 2>&1 | tail -n 4
  python3 -m licq.cli train .gpu/data --out /tmp/leg --N 128 --M 192 --lmbda "$lmbda" --steps 1000000 \
    --batch "${BATCH:-16}" --crop 256 --lr "${LR:-1e-4}" --precision bf16 --workers "${WORKERS:-8}" \
    --threads 8 --checkpoint-every 1000000 --max-minutes "$minutes" --warm-start .gpu/init.pt 2>&1 \
    | tr '\r' '\n' | grep -v '^train' | tail -n 3
  python3 - "$out/$model-gpu.pt" <<'EOF'
import sys, torch
ck = torch.load("/tmp/leg/checkpoint.pt", map_location="cpu", weights_only=True)
torch.save({k: v.half() if v.is_floating_point() else v for k, v in ck["model"].items()}, sys.argv[1])
print("steps", ck["step"], "elapsed_s", round(ck["elapsed_s"], 1))
EOF
  cp /tmp/leg/log.csv "$out/log.csv"; cp .gpu/init.txt "$out/init.txt"
}

restore() { mv "$aside"/*.pt src/licq/zoo/ && git status --short src/licq/zoo; }

adopt() {
  # a new CPU campaign run warm-started from the GPU leg's weights; the old run is kept beside it
  local model=$1 weights=$2
  [ -d "$camp/$model" ] && mv "$camp/$model" "$camp/$model.before-gpu-$(date +%Y%m%d%H%M)"
  mkdir -p "$camp/$model" && cp "$weights" "$camp/$model/gpu-init.pt"
  echo "start: nohup bash benchmarks/campaign.sh $model --warm-start $camp/$model/gpu-init.pt > $camp/$model.log 2>&1 &"
}

cmd=${1:-}; shift || true
case $cmd in
  prepare|run|adopt) "$cmd" "$@" ;;
  restore) restore ;;
  *) echo "usage: gpu_leg.sh prepare MODEL | run MODEL [MINUTES] | restore | adopt MODEL WEIGHTS" >&2; exit 2 ;;
esac
