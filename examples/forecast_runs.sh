#!/usr/bin/env bash
# The real CPU runs of docs/forecast.md: pilot -> target pairs for the transferred correlation and
# the forecast. Usage: examples/forecast_runs.sh OUT_DIR NAME [NAME ...]   (resumable: rerun to continue)
# Each run: width 1/8, 3,000 images, 10 epochs, batch 64, one CPU core, about 2 minutes.
set -u
R=$1; shift
COMMON="--width 0.125 --holdout 0 --epochs 10 --device cpu --log-every 10 --momentum 0.9"
declare -A A
A[base]="--lr 0.2 --wd 2e-3 --batch-size 64 --train-size 3000"
A[seed1]="--lr 0.2 --wd 2e-3 --batch-size 64 --train-size 3000 --seed 1"
A[wd8]="--lr 0.2 --wd 8e-3 --batch-size 64 --train-size 3000"
A[seed1_wd8]="--lr 0.2 --wd 8e-3 --batch-size 64 --train-size 3000 --seed 1"
A[wd05]="--lr 0.2 --wd 5e-4 --batch-size 64 --train-size 3000"
A[lr05]="--lr 0.05 --wd 2e-3 --batch-size 64 --train-size 3000"
A[lr08]="--lr 0.8 --wd 2e-3 --batch-size 64 --train-size 3000"
A[n128]="--lr 0.4 --wd 2e-3 --batch-size 128 --train-size 3000"
A[rho08]="--lr 0.4 --wd 2e-3 --batch-size 64 --train-size 3000 --momentum 0.8"
A[rho095]="--lr 0.1 --wd 2e-3 --batch-size 64 --train-size 3000 --momentum 0.95"
A[const]="--lr 0.2 --wd 2e-3 --batch-size 64 --train-size 3000 --schedule constant"
A[const_wd8]="--lr 0.2 --wd 8e-3 --batch-size 64 --train-size 3000 --schedule constant"
A[ts6000]="--lr 0.2 --wd 2e-3 --batch-size 64 --train-size 6000"
A[ts1500]="--lr 0.2 --wd 2e-3 --batch-size 64 --train-size 1500"
for n in "$@"; do
  d=$R/$n
  [ -f "$d/summary.json" ] && { echo "$n done"; continue; }
  extra=""; [ -f "$d/checkpoint.pt" ] && extra="--resume"
  ridgeline train --out "$d" $COMMON ${A[$n]} $extra
done
