#!/usr/bin/env bash
# Classic codecs on Kodak, one results file each: results/kodak/<codec>.json
# Needs Pillow with AVIF (PyPI wheels), and Debian's ffmpeg + libjxl-tools for hevc and jxl.
# A missing encoder stops the script, unless KEEP_MISSING=1 (make results): then that codec's
# committed file is kept and the script says so.
set -euo pipefail
cd "$(dirname "$0")/.."
KODAK=${KODAK:-../shared/data/kodak}
for codec in jpeg webp avif jxl hevc; do
  out=results/kodak/$codec.json
  if [ -n "${KEEP_MISSING:-}" ] && [ -f "$out" ] && ! .venv/bin/python -c 'import sys
from licq.evaluation.baselines import available
sys.exit(not available(sys.argv[1]))' "$codec"; then
    echo "$out: kept (no $codec encoder here)"
    continue
  fi
  .venv/bin/licq baseline "$KODAK" --codec "$codec" --out "$out" --quiet
done
