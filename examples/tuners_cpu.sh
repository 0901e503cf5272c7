#!/bin/bash
# The real 25-run tuner comparison (issue 13): Page's coordinate descent in the rotated
# coordinates against Optuna's TPE in the rotated and in the naive coordinates, each
# given 25 runs of the real ResNet-9 at CPU scale, scored on 1,000 held-out training
# images. Coordinate descent refines its step (--refine 3) rather than stop early, so it
# also spends its 25 runs. A tuner's best run is partly luck (one seed, 1,000 held-out
# images), so each tuner's best setting is then retrained with seeds 1-3: the accuracy
# of what it found. Resumable: rerun the same command.
#   bash examples/tuners_cpu.sh OUT_DIR      (data: $RIDGELINE_DATA; needs ridgeline[optuna])
#   python examples/tuners_summary.py OUT_DIR
set -e
OUT=${1:?usage: tuners_cpu.sh OUT_DIR}
COMMON="--objective train --width 0.125 --train-size 2000 --holdout 1000 --epochs 6 --batch-size 64
        --device cpu --log-every 50 --max-runs 25"
START="lr=0.05,momentum=0.9,wd=5e-4"
# the same box for both TPE runs: u = lr*wd/(1-momentum) spans 2e-4..2e-2 at the box's centre
ROTATED="rotated=2e-4:2e-2,one_minus_momentum=0.03:0.5,wd=1e-4:1e-2"
NAIVE="lr=0.01:1,one_minus_momentum=0.03:0.5,wd=1e-4:1e-2"
ridgeline tune $COMMON --method coordinate --coordinates rotated --refine 3 --start $START --out "$OUT/coordinate_rotated"
ridgeline tune $COMMON --method tpe --coordinates rotated --start $START --bounds $ROTATED --out "$OUT/tpe_rotated"
ridgeline tune $COMMON --method tpe --coordinates naive --start $START --bounds $NAIVE --out "$OUT/tpe_naive"
# each tuner's best setting, retrained with three new seeds
for name in coordinate_rotated tpe_rotated tpe_naive; do
  BEST=$(python -c "import pandas as pd, sys; t = pd.read_csv(sys.argv[1]); b = t.loc[t.score.idxmax()]
print(f'--lr {float(b.lr)!r} --momentum {float(b.momentum)!r} --wd {float(b.wd)!r}')" "$OUT/$name/trials.csv")
  for seed in 1 2 3; do
    [ -f "$OUT/reeval/$name/s$seed/summary.json" ] || ridgeline train --resume --out "$OUT/reeval/$name/s$seed" \
      --width 0.125 --train-size 2000 --holdout 1000 --epochs 6 --batch-size 64 --device cpu --log-every 50 \
      --seed $seed $BEST
  done
done
