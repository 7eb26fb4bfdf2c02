#!/usr/bin/env bash
# Classic codecs on Kodak, one results file each: results/kodak/<codec>.json
# Needs Pillow with AVIF (PyPI wheels), and Debian's ffmpeg + libjxl-tools for hevc and jxl.
set -euo pipefail
cd "$(dirname "$0")/.."
KODAK=${KODAK:-../shared/data/kodak}
for codec in jpeg webp avif jxl hevc; do
  .venv/bin/licq baseline "$KODAK" --codec "$codec" --out "results/kodak/$codec.json" --quiet
done
