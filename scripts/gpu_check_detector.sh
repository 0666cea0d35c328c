#!/usr/bin/env bash
# One short device check of the detector on a GPU machine (bf16 autocast + channels_last paths):
# 30 training steps of the ResNet-50 paper variant, then embedding, then a throughput figure.
# Everything is written under ${OUT:-/tmp/detector-gpu-check}; prints PASS/FAIL lines.
#
#   scripts/gpu_check_detector.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CLI=${CLI:-.venv/bin/clip-audit}
OUT=${OUT:-/tmp/detector-gpu-check}
mkdir -p "$OUT"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
"$PY" - "$OUT/images" <<'PYEOF'
import sys
from pathlib import Path
from clip_core.data import list_synthetic_tasks, open_source
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
n = 0
for task in list_synthetic_tasks():
    for ex in open_source("synthetic:" + task):
        ex.image.save(out / f"{n:05d}.png"); n += 1
print("images", n)
PYEOF
"$CLI" detector train --images "$OUT/images" --out "$OUT/run" --variant paper --trunk resnet50 --input-size 128 \
  --batch-size 128 --max-steps 30 --warmup-steps 5 --workers 8 --device cuda --entropy-weight 10 --checkpoint-every 10
"$CLI" embed --images "$OUT/images" --out "$OUT/emb" --detector "$OUT/run/detector.pt" --device cuda --batch-size 256
"$PY" - "$OUT" <<'PYEOF'
import json, sys, time
from pathlib import Path
import numpy as np, torch
from detector.checkpoint import load_detector
from detector.embed import DescriptorRunner
out = Path(sys.argv[1])
rows = [json.loads(l) for l in (out / "run" / "metrics.jsonl").read_text().splitlines()]
print("first/last loss", rows[0]["loss"], rows[-1]["loss"], "PASS" if rows[-1]["loss"] < rows[0]["loss"] else "FAIL")
d = np.load(out / "emb" / "descriptors.npy")
print("descriptors", d.shape, "PASS" if np.allclose(np.linalg.norm(d, axis=1), 1, atol=1e-3) else "FAIL")
r = DescriptorRunner(load_detector(out / "run" / "detector.pt"), "cuda")
for size in (224, 288):
    r.input_size = size
    x = torch.randint(0, 256, (256, size, size, 3), dtype=torch.uint8)
    r.embed_uint8(x); torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(5):
        r.embed_uint8(x)
    torch.cuda.synchronize(); print(f"forward {size}px bf16: {5 * 256 / (time.perf_counter() - t):.0f} images/s")
PYEOF
