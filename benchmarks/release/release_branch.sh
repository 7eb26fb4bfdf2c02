#!/usr/bin/env bash
# Anneal a copy of the campaign's live checkpoint for a release: STEPS more steps at lr/10.
#
#   bash benchmarks/release/release_branch.sh q3 [STEPS=750 [extra licq train options, e.g. --saturation 0.25]]
#
# The campaign itself keeps its high learning rate (it drops only at 85 % of 50,000 steps);
# its snapshots carry that rate's noise, which costs RD and, above all, recompression
# stability (results/idempotence/README.md). This copies $LICQ_CAMPAIGN/<model>'s checkpoint,
# config and log to $LICQ_RELEASE/<model> and continues it with the campaign's own command
# (benchmarks/release/campaign.sh) asking for start + STEPS steps in all: the schedule's drop point,
# 0.85·(start + STEPS), then lies before the start, so every step of the branch runs at lr/10.
# The campaign run is not touched; export the branch's checkpoint when it beats the zoo.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:?usage: release_branch.sh q1|q2|q3|q4 [steps [licq train options]]}
steps=${2:-750}
extra=("${@:3}")
src=${LICQ_CAMPAIGN:-/root/licq-campaign}/$model
dst=${LICQ_RELEASE:-/root/licq-release}/$model
[ -f "$src/checkpoint.pt" ] || { echo "release_branch.sh: no campaign checkpoint in $src" >&2; exit 2; }
py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python
start=$($py -c "import sys, torch; print(torch.load(sys.argv[1], map_location='cpu', weights_only=True)['step'])" \
  "$src/checkpoint.pt")
total=$((start + steps))
if [ $((total * 85)) -gt $((start * 100)) ]; then
  echo "release_branch.sh: $steps steps is too long a branch from step $start (at most $((start * 100 / 85 - start)))" >&2
  exit 2
fi
rm -rf "$dst" && mkdir -p "$dst"
cp "$src/checkpoint.pt" "$src/config.json" "$dst/"
awk -F, -v s="$start" 'NR == 1 || $1 <= s' "$src/log.csv" > "$dst/log.csv"  # not the rows past the checkpoint
echo "release branch of $model: steps $start..$total at lr/10 in $dst" >&2
LICQ_CAMPAIGN=$(dirname "$dst") STEPS=$total exec bash benchmarks/release/campaign.sh "$model" --snapshot-every 250 "${extra[@]}"
