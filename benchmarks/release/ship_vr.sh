#!/usr/bin/env bash
# Ship the variable-rate campaign's weights as the zoo's licq-vr (an opt-in model beside q1-q4: it
# replaces none, so the adoption rule's synthetic part is all it must pass).
#
#   bash benchmarks/release/ship_vr.sh decoder CHECKPOINT TAG
#   [FROM=PREV_TAG] bash benchmarks/release/ship_vr.sh candidate CHECKPOINT TAG [licq finetune options]
#   bash benchmarks/release/ship_vr.sh check TAG [CHECKPOINT]
#   [FROM=PREV_TAG] bash benchmarks/release/ship_vr.sh zoo CHECKPOINT TAG "NOTES"
#   bash benchmarks/release/ship_vr.sh tcq TAG [licq finetune options]
#   bash benchmarks/release/ship_vr.sh sq RUN LO HI
#
# decoder:   licq-vr's recipe since 0.4.4, on a campaign checkpoint: its decoder (g_s, LRP, inverse gains)
#            finetuned on its own real SQ latents, every crop at its own quality, in four stages (crops of
#            128 from the photos and the man-made scenes, saturation boost and colour-wave crops 0.25,
#            held-out list excluded; each stage `licq finetune --init` on the one before): 1600 steps at
#            5e-5 (seed 5, run $W/ft/TAG-a); 300 at 2e-5 with the idempotence term, β 8 over 2
#            re-encodings (seed 6, TAG-b); 300 at β 16 over 3, quality balance 0.45 (seed 7, TAG-c); 150
#            at β 16 over 3 at qualities 1-2 only (seed 8, $W/ft/TAG), against the quality-1 floor. Merged
#            into $W/TAG-merged.pt like candidate; check and zoo take it as they take a candidate. About
#            75 min on 2 threads (AMD EPYC, AVX2, 2 cores). SQ_STEPS sets the first stage's steps; with
#            SQ_STEPS=0 there is none and the idempotence stages start from the checkpoint's own decoder
#            (on a campaign checkpoint the first stage gained nothing on Kodak; without it the stages
#            take 15 min in bf16 on an AMD EPYC with AVX-512 BF16; docs/variable-rate.md has what they
#            gave on the second leg's step 3000).
# candidate: the g_s recipe on the checkpoint (decoder finetuning on real SQ latents, every crop at
#            its own quality, with the idempotence term: by default 300 steps, lr 2e-5, β 8 over 2
#            re-encodings, saturation boost 0.25, THREADS threads), merged into $W/TAG-merged.pt (half
#            precision: the values the zoo would ship, so check measures those).
#            With FROM=PREV_TAG it goes on from PREV_TAG's merged weights (a further stage), and
#            $W/PREV_TAG-ck.pt (CHECKPOINT's config and step with those weights) is the checkpoint
#            the stage's decoder is laid over; zoo takes the same FROM.
# check:     the synthetic drift of the candidate at qualities 1-7 and of the zoo's q1-q4, then the
#            rule at every quality: within 1 dB of the zoo model of that quality (q1-q4), no image
#            dropping more than 3 dB over ten generations (all); then its Kodak curve
#            (variable_rate_curve.py, SQ) for the BD-rates against the zoo, WebP, AVIF, mbt2018-mean, and
#            with CHECKPOINT that of the weights before the recipe too (what the recipe costs on Kodak).
#            Exit status 1 when a quality fails the rule.
# zoo:       export the checkpoint with TAG's decoder laid over it as licq-vr, the release's CDF tables,
#            and its golden files (tests/golden/make.py zoo-vr-sq zoo-vr-sq-q1 zoo-vr-tcq8). A TCQ-8 decoder of the
#            licq-vr it replaces no longer fits: export drops it (and the SQ decoder) from the zoo; run tcq again.
# tcq:       the TCQ-8 decoder of the zoo's licq-vr, the paper's method: g_s, LRP and the inverse gains
#            finetuned on real TCQ-8 latents at licq-vr's TCQ defaults, every crop at its own quality (by
#            default 1600 steps, lr 5e-5, crop 128, saturation boost 0.25 and colour-wave crops 0.25, on
#            the training photos and the man-made scenes where they are built), exported as
#            licq-vr-ft-tcq8-dec (what `licq encode --model licq-vr --quantizer tcq` then decodes with)
#            with its golden file. Without the waves the decoder gained as much on Kodak but ran away
#            at quality 7 (docs/variable-rate.md).
# sq:        the SQ decoder of the zoo's licq-vr: a finished finetune run (finetune_vr.sh sq-ft-dec-idem
#            makes one: the tcq recipe on real SQ latents, then 300 steps with the idempotence term),
#            exported as licq-vr-ft-sq-dec for the qualities LO-HI where it passed check's rule
#            (`--finetuned auto` codes with the base decoder outside them), with its golden files.
#
# Work goes to $LICQ_SHIP/vr (default /root/licq-ship/vr), outside the work tree. Keep the version
# unchanged until check has run (its files record the release), and bump it with the release.
set -euo pipefail
cd "$(dirname "$0")/../.."
stage=${1:?usage: ship_vr.sh decoder|candidate|check|zoo|tcq|sq ...}; shift
W=${LICQ_SHIP:-/root/licq-ship}/vr; mkdir -p "$W"
py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python
[ -x .venv/bin/licq ] && PATH=$PWD/.venv/bin:$PATH
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
# the checkpoint a stage's decoder is laid over: CHECKPOINT itself, or with FROM=PREV_TAG the
# checkpoint's config and step holding PREV_TAG's merged weights (the model that stage finetuned)
stage_checkpoint() {
  [ -z "${FROM:-}" ] && { echo "$1"; return; }
  local merged=$W/$FROM-merged.pt out=$W/$FROM-ck.pt
  [ -f "$merged" ] || { echo "ship_vr.sh: $merged not found (run the stage $FROM first)" >&2; exit 2; }
  [ -f "$out" ] || $py benchmarks/release/stage_checkpoint.py "$1" "$merged" "$out"
  echo "$out"
}
data=(../shared/data/train); extra=${EXTRA_DATA:-/root/licq-data/structures}; [ -d "$extra" ] && data+=("$extra")
case $stage in
decoder)
  ck=${1:?CHECKPOINT}; tag=${2:?TAG}
  common=(--base "$ck" --arch channel-vr --quantizer sq --train dec --crop 128 --saturation 0.25 --waves 0.25
          --threads "${THREADS:-2}" --exclude results/finetune/heldout.txt --resume)
  stage() {  # RUN, then its options
    [ -f "$W/ft/$1/decoder.pt" ] || OMP_NUM_THREADS=${THREADS:-2} licq finetune "${data[@]}" "${common[@]}" \
      "${@:2}" --out "$W/ft/$1" > "$W/ft-$1.log" 2>&1
  }
  first=()  # SQ_STEPS=0: no first stage; the idempotence stages start from the checkpoint's own decoder
  if [ "${SQ_STEPS:-1600}" -gt 0 ]; then
    stage "$tag-a" --steps "${SQ_STEPS:-1600}" --lr 5e-5 --seed 5
    first=(--init "$W/ft/$tag-a")
  fi
  stage "$tag-b" "${first[@]}" --steps 300 --lr 2e-5 --seed 6 --idempotence 8 --idempotence-generations 2
  stage "$tag-c" --init "$W/ft/$tag-b" --steps 300 --lr 2e-5 --seed 7 --idempotence 16 --idempotence-generations 3 \
    --quality-balance 0.45
  stage "$tag" --init "$W/ft/$tag-c" --steps 150 --lr 2e-5 --seed 8 --idempotence 16 --idempotence-generations 3 \
    --qualities 1 2
  $py -m licq.zoo.export "$ck" --with-decoder "$W/ft/$tag" --candidate "$W/$tag-merged.pt"
  ;;
candidate)
  ck=${1:?CHECKPOINT}; tag=${2:?TAG}; shift 2
  base=$ck; [ -n "${FROM:-}" ] && base=$W/$FROM-merged.pt
  ck=$(stage_checkpoint "$ck")
  [ -f "$W/ft/$tag/decoder.pt" ] || OMP_NUM_THREADS=${THREADS:-1} licq finetune ../shared/data/train --base "$base" \
    --arch channel-vr --quantizer sq --train dec --lr 2e-5 --steps 300 --saturation 0.25 --idempotence 8 \
    --idempotence-generations 2 --threads "${THREADS:-1}" --exclude results/finetune/heldout.txt \
    --out "$W/ft/$tag" --resume "$@" > "$W/ft-$tag.log" 2>&1
  $py -m licq.zoo.export "$ck" --with-decoder "$W/ft/$tag" --candidate "$W/$tag-merged.pt"
  ;;
check)
  tag=${1:?TAG}; cand=$W/$tag-merged.pt
  release=$($py -c 'import licq; print(licq.__version__)')
  zoo=results/reliability/synthetic-drift-zoo-$release.json  # the zoo's drift, once per release
  [ -f "$zoo" ] || $py benchmarks/synthetic_drift.py licq-q1 licq-q2 licq-q3 licq-q4 --tag "zoo-$release"
  $py benchmarks/synthetic_drift.py "$cand" --tag "vr-$tag"
  rc=0
  for q in 1 2 3 4 5 6 7; do
    shipped=-; [ "$q" -le 4 ] && shipped=licq-q$q
    if [ "$shipped" = - ]; then echo "quality $q (no zoo model of it):"; else echo "quality $q against $shipped:"; fi
    $py benchmarks/adoption_check.py --synthetic-only --drift "results/reliability/synthetic-drift-vr-$tag.json" \
      "$zoo" --drift-models "$cand@$q" "$shipped" --out "results/reliability/adoption-vr-$tag-q$q.json" || rc=1
  done
  base=(); [ -n "${2:-}" ] && base=("$2")
  labels=("$tag"); [ -n "${2:-}" ] && labels+=("$tag base")
  $py benchmarks/variable_rate_curve.py --weights "$cand" "${base[@]}" --label "${labels[@]}" \
    --out results/campaign/vr-ship-kodak --threads "${THREADS:-1}"
  exit $rc
  ;;
zoo)
  ck=$(stage_checkpoint "${1:?CHECKPOINT}"); tag=${2:?TAG}; notes=${3:?NOTES}
  $py -m licq.zoo.export "$ck" --name licq-vr --with-decoder "$W/ft/$tag" --notes "$notes" > /dev/null
  $py -m licq.zoo.tables
  $py tests/golden/make.py zoo-vr-sq zoo-vr-sq-q1 zoo-vr-tcq8
  echo "licq-vr exported; commit src/licq/zoo and tests/golden with the release" >&2
  ;;
tcq)
  tag=${1:?TAG}; shift
  [ -f "$W/ft/$tag/decoder.pt" ] || OMP_NUM_THREADS=${THREADS:-1} licq finetune "${data[@]}" --base licq-vr \
    --quantizer tcq --states 8 --train dec --steps 1600 --lr 5e-5 --crop 128 --saturation 0.25 --waves 0.25 \
    --threads "${THREADS:-1}" --exclude results/finetune/heldout.txt --out "$W/ft/$tag" --resume "$@" > "$W/ft-$tag.log" 2>&1
  $py -m licq.zoo.export "$W/ft/$tag" --decoder --name licq-vr-ft-tcq8-dec > /dev/null
  $py tests/golden/make.py zoo-vr-tcq8-ft
  echo "licq-vr-ft-tcq8-dec exported; commit src/licq/zoo and tests/golden with the release" >&2
  ;;
sq)
  run=${1:?RUN}; lo=${2:?LO}; hi=${3:?HI}
  $py -m licq.zoo.export "$run" --decoder --name licq-vr-ft-sq-dec --auto-qualities "$lo" "$hi" > /dev/null
  $py tests/golden/make.py zoo-vr-sq zoo-vr-sq-ft zoo-vr-sq-q1
  echo "licq-vr-ft-sq-dec exported; commit src/licq/zoo and tests/golden with the release" >&2
  ;;
*) echo "ship_vr.sh: unknown stage $stage (decoder, candidate, check, zoo, tcq or sq)" >&2; exit 2 ;;
esac
