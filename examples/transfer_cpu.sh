#!/bin/bash
# Transfer on the real network (CPU scale): the CPU tune's best setting (README, tune
# section: lr 0.512, momentum 0.75, wd 0.00125 at batch 64) carried to batch / 4,
# (1 - momentum) / 3 and wd x 4 by `ridgeline transfer`, each beside the naive change of
# that hyperparameter alone; 3 seeds each, scored on 2,000 held-out training images.
# The last two rows split the wd x 4 transfer: only the scale-invariant convs move to
# (lr / 4, wd x 4) (the other tensors keep the base's lr and wd), or only the others do.
#   bash examples/transfer_cpu.sh OUT_DIR      (data: $RIDGELINE_DATA)
#   python examples/transfer_summary.py OUT_DIR
set -e
OUT=${1:?usage: transfer_cpu.sh OUT_DIR}
COMMON="--width 0.125 --train-size 5000 --holdout 2000 --epochs 8 --device cpu --log-every 50"
BASE="lr=0.512,wd=0.00125,momentum=0.75,batch_size=64"
lr_for() {  # the transferred lr, from ridgeline transfer's JSON
  ridgeline transfer --from $BASE --to "$1" --train-size 5000 --epochs 8 --format json |
    python -c "import json,sys; print(repr(json.load(sys.stdin)['after']['lr']))"
}
MOM=$(python -c "print(repr(1 - 0.25 / 3))")
while read name args; do
  for seed in 0 1 2; do
    [ -f "$OUT/$name/s$seed/summary.json" ] || ridgeline train --resume --out "$OUT/$name/s$seed" $COMMON --seed $seed $args
  done
done <<LIST
base --batch-size 64 --lr 0.512 --momentum 0.75 --wd 0.00125
batch_transfer --batch-size 16 --lr $(lr_for batch_size=16) --momentum 0.75 --wd 0.00125
batch_naive --batch-size 16 --lr 0.512 --momentum 0.75 --wd 0.00125
momentum_transfer --batch-size 64 --lr $(lr_for momentum=$MOM) --momentum $MOM --wd 0.00125
momentum_naive --batch-size 64 --lr 0.512 --momentum $MOM --wd 0.00125
wd_transfer --batch-size 64 --lr $(lr_for wd=0.005) --momentum 0.75 --wd 0.005
wd_naive --batch-size 64 --lr 0.512 --momentum 0.75 --wd 0.005
wd_transfer_convs_only --batch-size 64 --lr $(lr_for wd=0.005) --momentum 0.75 --wd 0.005 --other-lr 0.512 --other-wd 0.00125
wd_transfer_others_only --batch-size 64 --lr 0.512 --momentum 0.75 --wd 0.00125 --other-lr $(lr_for wd=0.005) --other-wd 0.005
LIST
