#!/usr/bin/env bash
# The zoo's training campaign: one long run per model that survives interruptions.
#
#   nohup bash benchmarks/release/campaign.sh q3 > /root/licq-campaign/q3.log 2>&1 &
#
# Live state (checkpoint with optimizer, scheduler and RNG state, half-precision
# snapshots for the learning curve) lives in $LICQ_CAMPAIGN/<model>, outside the
# work tree, so running the same command again on this machine resumes it.
# When that folder is gone (a fresh machine), the run restarts warm from the
# shipped zoo weights of the same model if they have the campaign's size, else
# from scratch. Every leg is the same `licq train` command with --resume.
#
# Learning rate: 2e-4 from scratch to step 11,000 of the q3 run, 1e-4 since (LR overrides it; a
# resumed run takes the command's rate, see licq.training.loop.rebase_lr). At 2e-4 the Kodak RD
# loss of the snapshots fell slowly and noisily (1.037 / 1.053 / 1.027 / 0.984 at 8000-11,000
# steps, results/campaign/learning_curve-q3.json) while 750 steps at lr/10 gained 0.03-0.06 at
# once (the release branches): most of what separated the snapshots from the model was the
# rate's noise.
#
# Colour-saturation boost (`licq train --saturation`, SATURATION overrides): 0.25 from step 17,250
# of the q3 run. Without it every snapshot from 8000 steps on ran away when its own output was
# re-encoded on strongly coloured smooth images (benchmarks/synthetic_drift.py); a release branch
# with it reached 25.8 dB after 10 generations where the one without reached 19-21 dB.
set -euo pipefail
cd "$(dirname "$0")/../.."
#
# `campaign.sh vr` trains the variable-rate channel-conditional model (--arch channel-vr, qualities
# 1-7 in one network), warm-started from the shipped licq-vr (the run's weights at the last release
# that shipped them), else from licq-q4 (WARM=FILE names another shipped model of the same size; it
# is read only when the run has no checkpoint yet). From licq-q4
# the run starts with the top a licq-q3 start reached after 7000 steps, and at step 1000 it stood
# between that run's steps 3000 and 4000 against the zoo (docs/variable-rate.md).
model=${1:?usage: campaign.sh q1|q2|q3|q4|vr [extra licq train options]}
shift
camp=${LICQ_CAMPAIGN:-/root/licq-campaign}
run=$camp/$model
mkdir -p "$run"
case $model in
  q1) lmbda=0.0018 ;; q2) lmbda=0.0035 ;; q3) lmbda=0.0067 ;; q4) lmbda=0.0130 ;; vr) lmbda=0.0067 ;;
  *) echo "campaign.sh: unknown model $model" >&2; exit 2 ;;
esac
steps=${STEPS:-50000}
[ -x .venv/bin/licq ] && PATH=$PWD/.venv/bin:$PATH  # `make install` puts licq there
warm=()
arch=mbt2018-mean
shipped=src/licq/zoo/licq-$model.pt
vr_start=src/licq/zoo/licq-vr.pt  # the shipped variable-rate model: a replaced machine goes on from it
[ -f "$vr_start" ] || vr_start=src/licq/zoo/licq-q4.pt
[ "$model" = vr ] && arch=channel-vr && shipped=${WARM:-$vr_start}
if [ ! -f "$run/checkpoint.pt" ] && [ -f "$shipped" ] && \
   python -c "import json,sys; m=[e for e in json.load(open('src/licq/zoo/manifest.json'))['models'] if e['file']=='$(basename "$shipped")']; sys.exit(0 if m and (m[0]['N'],m[0]['M'])==(128,192) else 1)"; then
  warm=(--warm-start "$shipped")
elif [ ! -f "$run/checkpoint.pt" ] && [ -n "${WARM:-}" ]; then  # asked for: not a silent start from scratch
  echo "campaign.sh: WARM=$WARM is not a shipped model of N=128, M=192" >&2; exit 2
fi
# Training photos: ../shared/data/train, and for vr also the man-made scenes of
# benchmarks/release/data/structures.json where they have been built (EXTRA_DATA overrides the folder;
# make_structures.py rebuilds it from local clones of its source repositories). The vr run has read
# them from its start.
data=(../shared/data/train)
extra=${EXTRA_DATA:-/root/licq-data/structures}
[ "$model" = vr ] && [ -d "$extra" ] && data+=("$extra")
# vr: the recipe of vr_recipe.sh (docs/variable-rate.md: at 1e-4 on every weight the low qualities
# lost 6 % in 1000 steps while the context networks stayed near zero)
lr=${LR:-1e-4}
vr_opts=()
. benchmarks/release/vr_recipe.sh
[ "$model" = vr ] && lr=${LR:-$VR_LR} && vr_opts=(--fresh-lr "${FRESH_LR:-$VR_FRESH_LR}"
                                                  --quality-balance "${QUALITY_BALANCE:-$VR_QUALITY_BALANCE}")
exec nice -n "${NICE:-0}" licq train "${data[@]}" --out "$run" --arch "$arch" --N 128 --M 192 --lmbda "$lmbda" \
  --steps "$steps" --batch 8 --crop 256 --lr "$lr" "${vr_opts[@]}" --precision "${PRECISION:-auto}" \
  --checkpoint-every 250 --snapshot-every 1000 --saturation "${SATURATION:-0.25}" --resume "${warm[@]}" "$@"
