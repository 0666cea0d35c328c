#!/usr/bin/env bash
# Train a default-detector candidate on a lent GPU machine within one device command (<= 10 min),
# then bring the inference copy back here to calibrate and benchmark on the CPU.
#
# Here, first (runs/ and .whl/ are git-ignored, so they travel only when carried):
#   .venv/bin/python scripts/pack_detector_images.py --images runs/detector-images/train --out runs/detector-pack/train
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp -d .whl ftfy==6.3.1 wcwidth==0.9.4
# Device run (carry ["runs/detector-pack", ".whl"], timeout_s 570):
#   bash scripts/gpu_train_default_detector.sh
# Back here (files_at = the folder the device tool returns):
#   cat FILES_AT/export.pt.part-* > runs/gpu-r50/export.pt, then calibrate as scripts/train_default_detector.sh step 4
#   does and benchmark with bench/copy_detection.py --method runs/gpu-r50/export.pt --method default.
#
# The device has PyTorch but not this project's package: the CLI runs as `python3 -m audit` from the
# checkout, with ftfy/wcwidth from the carried wheels. A 60-step probe measures the step rate, then
# the real run gets the number of steps that fits TRAIN_S (cosine schedule to zero within the budget).
# env: OUT (the device tool sets it), TRAIN_S, TRUNK, INPUT_SIZE, BATCH, LR, WORKERS, INIT_FROM, DEVICE
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-train}
TRAIN_S=${TRAIN_S:-360}
TRUNK=${TRUNK:-resnet50}
INPUT_SIZE=${INPUT_SIZE:-112}
BATCH=${BATCH:-256}
LR=${LR:-1e-3}
WORKERS=${WORKERS:-$(( $(nproc) - 1 ))}
INIT_FROM=${INIT_FROM:-}
DEVICE=${DEVICE:-cuda}
IMAGES=${IMAGES:-runs/detector-pack/train}
WORK=${WORK:-/tmp/gpu-train-work}
PY=${PY:-python3}
mkdir -p "$OUT" "$WORK"
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" .whl/*.whl
  export PYTHONPATH="$WORK/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
[ "$DEVICE" = cpu ] || "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name(0))"
[ -d "$IMAGES" ] || { echo "missing $IMAGES: run scripts/pack_detector_images.py here and carry runs/detector-pack" >&2; exit 2; }

train() {  # train OUT_DIR MAX_STEPS [extra args]
  local dir=$1 steps=$2
  shift 2
  "$PY" -m audit detector train --images "$IMAGES" --out "$dir" --variant paper --trunk "$TRUNK" --dim 512 \
    --input-size "$INPUT_SIZE" --input-mode luma --recipe photo-tiles --batch-size "$BATCH" --epochs 100000 \
    --max-steps "$steps" --lr "$LR" --warmup-steps 100 --temperature 0.07 --entropy-weight 1 --all-views \
    --workers "$WORKERS" --checkpoint-every 200 --device "$DEVICE" ${INIT_FROM:+--init-from "$INIT_FROM"} "$@"
}

START=$(date +%s)
train "$WORK/probe" "${PROBE_STEPS:-60}" >"$WORK/probe.log" 2>&1 || { tail -n 30 "$WORK/probe.log"; exit 1; }
RATE=$("$PY" -c "import json,sys; rows=[json.loads(l) for l in open(sys.argv[1])]; print(rows[-1]['images_per_s'])" "$WORK/probe/metrics.jsonl")
LEFT=$(( TRAIN_S - ($(date +%s) - START) ))
STEPS=$("$PY" -c "import sys; r, b, s = map(float, sys.argv[1:]); print(max(50, int(0.9 * r * s / b)))" "$RATE" "$BATCH" "$LEFT")
echo "probe: ${RATE} images/s at batch $BATCH; $LEFT s left -> $STEPS steps" | tee "$OUT/plan.txt"

RUN=$WORK/run
timeout --signal=INT $(( LEFT + 60 )) bash -c "$(declare -f train); $(declare -p IMAGES TRUNK INPUT_SIZE BATCH LR WORKERS DEVICE INIT_FROM PY); train '$RUN' '$STEPS'" \
  >"$OUT/train.log" 2>&1 || echo "training stopped early (see train.log); exporting the last checkpoint"
WEIGHTS=$RUN/detector.pt
[ -f "$WEIGHTS" ] || WEIGHTS=$RUN/checkpoint.pt
"$PY" -m audit detector export --checkpoint "$WEIGHTS" --out "$RUN/export.pt"
# the device returns at most 8 files of at most 16 MiB: the export in parts, metrics, plan, log
split -b 16000000 -d "$RUN/export.pt" "$OUT/export.pt.part-"
cp "$RUN/metrics.jsonl" "$OUT/"
sha256sum "$RUN/export.pt" | tee -a "$OUT/plan.txt"
tail -n 3 "$RUN/metrics.jsonl"
echo "done in $(( $(date +%s) - START )) s: $(ls "$OUT")"
