#!/bin/bash
# The weight-norm timescale on the real network (CPU scale; docs/transfer.md): at a fixed
# peak lr 0.512, momentum 0.75, batch 64 (the CPU tune's best, README), sweep wd over a
# factor-2 grid, 3 seeds per point, scored on 2,000 held-out training images, at
#   size2500   2,500 training images, 10 epochs, width 1/8  (wd 0.000625 ... 0.01)
#   size10000 10,000 training images, 10 epochs, width 1/8  (wd 0.00015625 ... 0.0025)
#   epochs20   2,500 training images, 20 epochs, width 1/8  (as size2500)
#   width4     2,500 training images, 10 epochs, width 1/4  (as size2500)
#   naive10000 10,000 images at WD and 2 WD (the naive transfer when off size10000's grid;
#              a sweep axis needs 2 points)
#   size2500low, epochs20low, width4low: wd 0.00015625 and 0.0003125, below those grids
#              (added when the 2,500-image optimum came out near the grid's low end)
#   size10000high: wd 0.005 and 0.01 at 10,000 images, above its grid (added when its
#              accuracy came out flat up to the grid's top, to find where it falls)
# Each grid is centred on the prediction of keeping the relaxation time in epochs
# (wd x 1/4 for 4x the images; unchanged for 2x the epochs or 2x the width) and spans
# wd x 1/4 ... x 4 around it, so "no move" is inside the grid too.
# Resumable: a rerun skips finished runs; MAX_RUNS stops after that many new ones.
#   bash examples/transfer_scale_cpu.sh OUT_DIR PART [MAX_RUNS] [WD]   (data: $RIDGELINE_DATA)
#   python examples/transfer_scale_summary.py OUT_DIR
set -e
OUT=${1:?usage: transfer_scale_cpu.sh OUT_DIR PART [MAX_RUNS] [WD]}
PART=${2:?PART: size2500, size10000, epochs20, width4, their ...low or naive10000}
MAX=${3:+--max-runs $3}
COMMON="--y lr=0.512:0.512:1 --repeats 3 --momentum 0.75 --batch-size 64 --holdout 2000
        --device cpu --log-every 20 --format csv"
case $PART in
  size2500)   args="--x wd=0.000625:0.01:5 --train-size 2500 --epochs 10 --width 0.125" ;;
  size10000)  args="--x wd=0.00015625:0.0025:5 --train-size 10000 --epochs 10 --width 0.125" ;;
  epochs20)   args="--x wd=0.000625:0.01:5 --train-size 2500 --epochs 20 --width 0.125" ;;
  width4)     args="--x wd=0.000625:0.01:5 --train-size 2500 --epochs 10 --width 0.25" ;;
  size2500low)  args="--x wd=0.00015625:0.0003125:2 --train-size 2500 --epochs 10 --width 0.125" ;;
  epochs20low)  args="--x wd=0.00015625:0.0003125:2 --train-size 2500 --epochs 20 --width 0.125" ;;
  width4low)    args="--x wd=0.00015625:0.0003125:2 --train-size 2500 --epochs 10 --width 0.25" ;;
  size10000high) args="--x wd=0.005:0.01:2 --train-size 10000 --epochs 10 --width 0.125" ;;
  naive10000) WD=${4:?naive10000 needs WD}; PART=naive10000_$WD
              args="--x wd=$WD:$(awk "BEGIN{print 2*$WD}"):2 --train-size 10000 --epochs 10 --width 0.125" ;;
  *) echo "unknown PART $PART: size2500, size10000, epochs20, width4 or naive10000" >&2; exit 2 ;;
esac
ridgeline sweep --objective train --out "$OUT/$PART" $args $COMMON $MAX
