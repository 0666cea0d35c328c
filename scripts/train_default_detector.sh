#!/usr/bin/env bash
# Train, calibrate and export the shipped default detector (detector/weights/default.pt + default.json).
# Every step resumes: rerun the script after an interruption (or to train for more steps: training
# continues from $RUN/checkpoint.pt towards MAX_STEPS; settings must stay the same, see docs/detector.md).
# Intermediate checkpoints stay in $RUN (runs/ is outside git). On a GPU machine training uses bf16
# and channels_last automatically (set WORKERS to the CPU count there).
#
#   scripts/train_default_detector.sh      # env: IMAGES, RUN, TRUNK, INPUT_SIZE, BATCH, MAX_STEPS, FINETUNE_CYCLES, WORKERS, ORBIT, WARNING
#   STOP_AFTER_S=1800 scripts/train_default_detector.sh   # train for at most 30 minutes, then calibrate + export
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CLI=${CLI:-.venv/bin/clip-audit}
IMAGES=${IMAGES:-runs/detector-images}
RUN=${RUN:-runs/default-detector-v2}
TRUNK=${TRUNK:-resnet18}
INPUT_SIZE=${INPUT_SIZE:-64}
BATCH=${BATCH:-64}
MAX_STEPS=${MAX_STEPS:-5500}
FINETUNE_CYCLES=${FINETUNE_CYCLES-4000:5e-4:1:100}
WORKERS=${WORKERS:-1}
STOP_AFTER_S=${STOP_AFTER_S:-0}
ORBIT=${ORBIT:-none}

# 1. images: Debian packages and bundled Python samples (offline-data.md), deduplicated, split by
#    photograph into train / calibration / benchmark pools (disjoint); never the reserved packages
[ -d "$IMAGES/train" ] || "$PY" scripts/fetch_detector_images.py --out "$IMAGES"

# 2. the paper's recipe: ResNet trunk with blur pooling, weight norm and GELU, reading standardised
#    luminance; InfoNCE at 0.07 over all views plus SSCD's entropy term; the photo-tiles recipe (four
#    non-overlapping tiles per image as each other's hard negatives, half darkened or flattened,
#    every transform at least as strong as the benchmark families)
TRAIN=("$CLI" detector train --images "$IMAGES/train" --out "$RUN" --variant paper --trunk "$TRUNK" --dim 512
  --input-size "$INPUT_SIZE" --input-mode luma --recipe photo-tiles --batch-size "$BATCH" --epochs 1000
  --max-steps "$MAX_STEPS" --lr 1e-3 --warmup-steps 100 --temperature 0.07 --entropy-weight 1 --all-views
  --workers "$WORKERS" --checkpoint-every 100)
if [ "$STOP_AFTER_S" -gt 0 ]; then
  timeout --signal=INT "$STOP_AFTER_S" "${TRAIN[@]}" || true   # stopped: the last checkpoint is kept
else
  "${TRAIN[@]}"
fi
WEIGHTS="$RUN/detector.pt"
[ -f "$WEIGHTS" ] && [ "$WEIGHTS" -nt "$RUN/checkpoint.pt" ] || WEIGHTS="$RUN/checkpoint.pt"

# 2b. further cosine cycles, each from the previous weights (fresh optimiser), with text overlays at
#     the benchmark's size and JPEG also at the source resolution. FINETUNE_CYCLES lists them as
#     steps:peak-lr:seed:warm-up; cycle k trains in $RUN-finetune (k = 1) or $RUN-finetune<k>;
#     FINETUNE_CYCLES="" skips them.
PREVIOUS=$RUN
K=0
[ -f "$RUN/detector.pt" ] || FINETUNE_CYCLES=""  # the first run was stopped early: no cycles yet
for CYCLE in $FINETUNE_CYCLES; do
  IFS=: read -r STEPS LR SEED WARMUP <<< "$CYCLE"
  K=$((K + 1))
  CYCLE_RUN=$RUN-finetune; [ "$K" -gt 1 ] && CYCLE_RUN=$RUN-finetune$K
  FINETUNE=("$CLI" detector train --images "$IMAGES/train" --out "$CYCLE_RUN" --variant paper --trunk "$TRUNK" --dim 512
    --input-size "$INPUT_SIZE" --input-mode luma --recipe photo-tiles-finetune --batch-size "$BATCH" --epochs 1000
    --max-steps "$STEPS" --lr "$LR" --warmup-steps "$WARMUP" --temperature 0.07 --entropy-weight 1 --all-views
    --workers "$WORKERS" --checkpoint-every 100 --seed "$SEED" --init-from "$PREVIOUS/detector.pt")
  if [ "$STOP_AFTER_S" -gt 0 ]; then
    timeout --signal=INT "$STOP_AFTER_S" "${FINETUNE[@]}" || true
  else
    "${FINETUNE[@]}"
  fi
  PREVIOUS=$CYCLE_RUN
  WEIGHTS="$CYCLE_RUN/detector.pt"
  [ -f "$WEIGHTS" ] && [ "$WEIGHTS" -nt "$CYCLE_RUN/checkpoint.pt" ] || WEIGHTS="$CYCLE_RUN/checkpoint.pt"
  [ -f "$CYCLE_RUN/detector.pt" ] || break  # stopped early: calibrate and export what there is
done
RUN=$PREVIOUS

# 3. the inference copy: fp16, weight norm folded, descriptors averaged over $ORBIT (none, hflip or
#    dihedral: exact invariance to flips / right-angle rotations; chosen on the calibration set)
"$CLI" detector export --checkpoint "$WEIGHTS" --out "$RUN/export.pt" --orbit "$ORBIT"

# 4. held-out calibration: augmented copies of the calibration photographs (never trained on, not
#    the benchmark's) among 10x distractors; the default threshold is the lowest score with precision >= 0.95
[ -d runs/calibration ] || "$PY" scripts/build_copy_benchmark.py --photos "$IMAGES/calibration" --out runs/calibration --seed 1
"$CLI" detector eval --references runs/calibration/references --queries runs/calibration/queries \
  --ground-truth runs/calibration/ground_truth.csv --method "$RUN/export.pt" --calibrate 0.95 --out "$RUN/calibration.json"
THRESHOLD=$("$PY" -c "import json,sys; c=json.load(open(sys.argv[1]))['calibration']; print(c['threshold'])" "$RUN/calibration.json")

# 5. ship it with its threshold, and the metadata file
"$CLI" detector export --checkpoint "$RUN/export.pt" --out detector/weights/default.pt --threshold "$THRESHOLD"
"$PY" scripts/write_default_metadata.py --checkpoint "$RUN/export.pt" --threshold "$THRESHOLD" \
  --calibration "$RUN/calibration.json" --out detector/weights/default.json --warning "${WARNING:-}"
echo "default detector: detector/weights/default.pt (threshold $THRESHOLD)"
