#!/usr/bin/env bash
# Ship one retrained zoo model with everything that depends on its weights (one recipe for q1-q4).
#
#   bash benchmarks/release/ship_model.sh zoo q3 CHECKPOINT GS_RUN "NOTES"   # weights, decoders, channel weights
#   bash benchmarks/release/ship_model.sh tcq q1                            # the TCQ-8 decoder alone, again
#   bash benchmarks/release/ship_model.sh evals q3                          # the zoo's curves, the model's rows recoded
#
# Only a candidate that passed benchmarks/adoption_check.py (README, Model zoo) is shipped: CHECKPOINT
# is its end-to-end training checkpoint and GS_RUN its g_s recipe run (benchmarks/release/gs_recipe.sh).
#
# zoo:   export CHECKPOINT with GS_RUN's g_s laid over it under licq-qN (the manifest keeps the name's
#        TCQ defaults); finetune the TCQ-8 decoder (2400 steps at the model's TCQ Δ and λ, saturation
#        boost 0.25 and colour-wave crops 0.25, on the training photos and the man-made scenes where
#        they are built: trained on photos alone, the decoders of q1 and q4 of 0.4.1 ran away under
#        TCQ-8 re-encoding, docs/finetuning.md) and the fixed-grid decoder (1200 steps, idempotence term β 4 over 4 generations, saturation boost)
#        on the new weights, one thread each and side by side, and export both; re-measure the
#        model's channel weights into the manifest (python -m licq.evaluation.calibrate). Kodak's effort-3 rows,
#        which need only the new weights, start right after the export and run on beside both stages
#        (kodak_rd.sh --effort3-only, in the background; $W/effort3.rc holds its exit status).
#        Weights replaced under a zoo name go into src/licq/zoo/retired.json (python -m licq.zoo.export).
# tcq:   only the TCQ-8 decoder of the shipped model, finetuned and exported as in zoo (the one it
#        replaces is retired); then its generation loss under TCQ-8 (benchmarks/synthetic_drift.py).
# evals: on two threads side by side, Kodak (benchmarks/kodak_rd.sh with efforts 1-3, TCQ-8 effort 1)
#        and the held-out photos (benchmarks/heldout_rd.sh with efforts 1-2, TCQ-8 effort 1), then the
#        fixed-grid generation loss and the model's own-SQ TCQ curve; finally results/README.md and the
#        BD-rate sensitivity. `licq eval --resume` keeps the rows of the other models, so only this
#        model's images are coded, but only in files the same licq release wrote: the release is part
#        of a row's key, so a file of an older release is recoded for every model (efforts 2 and 3:
#        about 5 h of one thread for the four models; `licq eval --resume` says so in the logs in $W).
#        Keep the version unchanged until evals ends, and bump it with the release. Effort 3, the long part, is the zoo stage's background job: evals
#        waits for it (or runs it itself when there is none), then redraws Kodak's tables.
#
# Run folders go to $LICQ_SHIP/<model> (default /root/licq-ship), outside the work tree; a stage that
# is cut off is started again with the same command (finished decoders and rows are kept).
# TCQ8_STEPS and SQGRID_STEPS override the decoders' steps (a smoke test of the script: 4).
set -euo pipefail
cd "$(dirname "$0")/../.."
stage=${1:?usage: ship_model.sh zoo|tcq|evals q1|q2|q3|q4 ...}; model=${2:?usage: ship_model.sh zoo|tcq|evals q1|q2|q3|q4 ...}
case $model in q1|q2|q3|q4) ;; *) echo "ship_model.sh: unknown model $model" >&2; exit 2 ;; esac
name=licq-$model; quality=${model#q}
W=${LICQ_SHIP:-/root/licq-ship}/$model; mkdir -p "$W"
py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python
[ -x .venv/bin/licq ] && PATH=$PWD/.venv/bin:$PATH
export OMP_NUM_THREADS=1
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}  # this tree's licq, also from a git worktree beside an editable install
one() { nice -n "${NICE:-5}" "$@"; }  # every job here is one thread; the campaign may share the machine

# the photos a decoder is finetuned on: the training pool, and for the TCQ-8 decoder also the man-made
# scenes where they are built (benchmarks/release/data/make_structures.py)
data=(../shared/data/train)
tcq_data=("${data[@]}"); extra=${EXTRA_DATA:-/root/licq-data/structures}; [ -d "$extra" ] && tcq_data+=("$extra")

# finetune a decoder of $name into $W/$1 unless it is there (exported once both are done: one manifest),
# on the photos $2 names: "photos" (the training pool) or "structures" (it and the man-made scenes)
decoder() {
  local run=$W/$1 pool=$2; shift 2
  local photos
  case $pool in
    photos) photos=("${data[@]}") ;;
    structures) photos=("${tcq_data[@]}") ;;
    *) echo "ship_model.sh: decoder photos must be 'photos' or 'structures', not '$pool'" >&2; exit 2 ;;
  esac
  if [ -f "$run/decoder.json" ] && ! $py -c 'import json, sys; from licq.zoo import entry
sys.exit(json.load(open(sys.argv[1]))["base_digest"] != entry(sys.argv[2])["digest"])' "$run/decoder.json" "$name"; then
    rm -rf "$run"  # made on the weights this model had before
  fi
  [ -f "$run/decoder.pt" ] || one licq finetune "${photos[@]}" --base "$name" --train dec --lr 5e-5 --crop 128 \
    --threads 1 --exclude results/finetune/heldout.txt --out "$run" --resume "$@" > "$run.log" 2>&1
}

# the TCQ-8 decoder at the model's TCQ defaults (its own run folder: one of the photos-only recipe of
# 0.4.1 and before, left in $W/tcq8-dec, is never taken for it)
tcq8_decoder() {
  local step lam
  read -r step lam < <($py -c "from licq.quantizers.defaults import quantizer_defaults as q; d = q('$name', 'tcq', None, 8, None); print(d['step'], d['tcq_lambda'])")
  echo "$name: TCQ-8 decoder at Δ $step, λ $lam" >&2
  decoder tcq8-waves-dec structures --quantizer tcq --states 8 --step "$step" --tcq-lambda "$lam" --steps "${TCQ8_STEPS:-2400}" \
    --saturation 0.25 --waves 0.25
}

# wait for every pid given; fail if one failed
both() { local rc=0; for p in "$@"; do wait "$p" || rc=1; done; return $rc; }

# Kodak's effort-3 rows of this model (about 2 h on one shared thread): started by the zoo stage so
# that they run beside the decoders and the evaluations
effort3() { one bash benchmarks/kodak_rd.sh --effort3-only; }
# the zoo stage's effort-3 job is still running (its pid, and still this script: not a reused pid)
effort3_running() {
  [ -f "$W/effort3.pid" ] && ps -o args= -p "$(cat "$W/effort3.pid")" 2> /dev/null | grep -q ship_model.sh
}

case $stage in
zoo)
  ck=${3:?usage: ship_model.sh zoo qN CHECKPOINT GS_RUN NOTES}; gs=${4:?GS_RUN}; notes=${5:?NOTES}
  $py -m licq.zoo.export "$ck" --name "$name" --quality "$quality" --with-decoder "$gs" --notes "$notes" > /dev/null
  if ! effort3_running; then  # a rerun of this stage leaves a running one alone (one writer per journal)
    rm -f "$W/effort3.rc"
    (set +e; effort3 > "$W/effort3.log" 2>&1; echo $? > "$W/effort3.rc") &  # outlives this stage; evals waits
    echo $! > "$W/effort3.pid"
  fi
  tcq8_decoder &
  p1=$!
  decoder sqgrid-dec photos --quantizer sq-grid --steps "${SQGRID_STEPS:-1200}" --idempotence 4 \
    --idempotence-generations 4 --saturation 0.25 &
  p2=$!
  both $p1 $p2
  $py -m licq.zoo.export "$W/tcq8-waves-dec" --decoder --name "$name-ft-tcq8-dec" > /dev/null
  $py -m licq.zoo.export "$W/sqgrid-dec" --decoder --name "$name-ft-sqgrid-dec" > /dev/null
  k=../shared/data/kodak
  one $py -m licq.evaluation.calibrate "$name" --images $k/kodim01.png $k/kodim04.png $k/kodim23.png > /dev/null
  echo "$name: weights, TCQ-8 and fixed-grid decoders, channel weights in the zoo; next: ship_model.sh evals $model" >&2
  ;;
tcq)
  tcq8_decoder
  $py -m licq.zoo.export "$W/tcq8-waves-dec" --decoder --name "$name-ft-tcq8-dec" > /dev/null
  one $py benchmarks/synthetic_drift.py "$name" --quantizer tcq8 --tag "zoo-$model-tcq8-ft"
  echo "$name-ft-tcq8-dec exported (the replaced one retired); next: ship_model.sh evals $model" >&2
  ;;
evals)
  mapfile -t IMGS < <(sed "s|^|../shared/data/train/|" results/finetune/heldout.txt)
  tcq8e1=(--all-qualities --quantizer tcq --states 8 --finetuned auto --effort 1
          --name "licq TCQ-8 + finetuned decoders, effort 1" --quiet --resume)
  ahead=; [ -f "$W/effort3.pid" ] && ahead=1  # the zoo stage started effort 3
  {
    EFFORT2=1 one bash benchmarks/kodak_rd.sh
    one licq eval ../shared/data/kodak "${tcq8e1[@]}" --out results/kodak/licq-tcq8-ft-effort1.json
    [ -n "$ahead" ] || effort3  # no zoo stage before: effort 3 here
  } > "$W/evals-kodak.log" 2>&1 &
  p1=$!
  {
    EFFORT1=1 EFFORT2=1 one bash benchmarks/heldout_rd.sh
    one licq eval "${IMGS[@]}" "${tcq8e1[@]}" --out results/heldout/licq-tcq8-ft-effort1.json
    if [ "$model" = q3 ]; then tag=sq-grid; else tag=sq-grid-$model; fi  # q3 is the default model's file
    one $py benchmarks/recompression.py --quantizers sq-grid --threads 1 --model "$name" --tag "$tag"
    one $py benchmarks/release/tcq_weighting_eval.py --own-sq "$name" --own-sq-images 24 --out results/tcq/n128 \
      --points '[{"quantizer":"tcq","states":8,"finetuned":"dec"},{"quantizer":"tcq","states":8,"finetuned":null}]'
  } > "$W/evals-heldout.log" 2>&1 &
  p2=$!
  both $p1 $p2
  if [ -n "$ahead" ]; then
    while [ ! -f "$W/effort3.rc" ] && effort3_running; do sleep 60; done
    [ "$(cat "$W/effort3.rc" 2> /dev/null)" = 0 ] || effort3 >> "$W/effort3.log" 2>&1  # cut off: resume it here
    rm -f "$W/effort3.pid"
  fi
  bash benchmarks/kodak_rd.sh --plots-only > /dev/null  # the tables again, with the effort-3 rows
  $py benchmarks/results_tables.py > results/README.md
  $py benchmarks/bdrate_sensitivity.py results/kodak/webp.json results/kodak/licq-sq.json \
    --anchor-gap ../shared/anchors/kodak/compressai-mbt2018-mean_mse_cpu.json --out results/kodak/bdrate-sensitivity-webp.json
  echo "$name: evaluations done; logs in $W; the README's tables are still to be written by hand" >&2
  ;;
*) echo "ship_model.sh: unknown stage $stage (zoo, tcq or evals)" >&2; exit 2 ;;
esac
