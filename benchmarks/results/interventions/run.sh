#!/usr/bin/env bash
# Intervention curves (issue 14): Synthetic-MNIST, EWS and cub-sim, clean and under the unknown
# attack (confounding, random targets, eps 32/255), 4 seeds each. Models and rule files go to
# $WORK (not committed); curves.{json,md,png} to benchmarks/results/interventions/DATASET/.
# Run from the repository root: bash benchmarks/results/interventions/run.sh [DATASET...]
set -euo pipefail
WORK=${WORK:-/tmp/again-interventions}
OUT=${OUT:-benchmarks/results/interventions}
mkdir -p "$WORK"
SEEDS="0 1 2 3"
truth() {  # the training split's true concepts and categories, for learn-weights
  python -c "import numpy as np, sys; d = np.load(sys.argv[1]); np.savez(sys.argv[2], concepts=d['true_concepts'], categories=d['true_categories'], concept_names=d['concept_names'], category_names=d['category_names'])" "$1" "$2"
}
DATASETS=("$@")
[ $# -gt 0 ] || DATASETS=(mnist ews cub-sim)
for DATASET in "${DATASETS[@]}"; do
  case $DATASET in
    mnist) SIZE="--n-train 4500 --n-test 500 --epochs 3"; LIMIT="" ;;
    ews) SIZE="--n-train 5000 --n-test 1000 --epochs 20"; LIMIT="" ;;
    cub-sim) SIZE="--epochs 20"; LIMIT="--limit 1000" ;;
  esac
  for S in $SEEDS; do
    again-mln train --dataset "$DATASET" --mode sequential --head-epochs 100 $SIZE --seed "$S" --quiet -o "$WORK/$DATASET-$S.pt"
  done
  case $DATASET in
    mnist) again-mln build-rules --dataset mnist -o "$WORK/mnist.mln" ;;
    ews) again-mln build-rules --dataset ews --n-samples 5000 --seed 0 -o "$WORK/ews.mln" ;;
    cub-sim) again-mln build-rules --dataset cub -o "$WORK/cub-sim.learned.mln" ;;  # prior weights (docs/method.md)
  esac
  if [ "$DATASET" != cub-sim ]; then
    again-mln predict "$WORK/$DATASET-0.pt" --split train -o "$WORK/$DATASET-train.npz"
    truth "$WORK/$DATASET-train.npz" "$WORK/$DATASET-truth.npz"
    again-mln learn-weights "$WORK/$DATASET.mln" --data "$WORK/$DATASET-truth.npz" --prior-stdev 5 -o "$WORK/$DATASET.learned.mln"
  fi
  mkdir -p "$OUT/$DATASET"
  again-mln intervene "$WORK/$DATASET"-{0,1,2,3}.pt --mln "$WORK/$DATASET.learned.mln" \
    --attack confounding/random --eps 32 --max-k 6 --target-sr 0.98 --seed 0 $LIMIT --quiet -o "$OUT/$DATASET/curves.json"
done
