"""scripts/pack_detector_images.py: WebP tar shards that the training sources read, within the budget."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from clip_core.data import open_source

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pack_detector_images.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_pack_writes_readable_shards_and_stops_at_the_budget(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(7):
        Image.fromarray(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    done = _run("--images", str(photos), "--out", str(tmp_path / "pack" / "train"), "--max-side", "64",
                "--per-shard", "3", "--budget-mib", "1")
    assert done.returncode == 0, done.stderr
    source = open_source(str(tmp_path / "pack" / "train"))
    examples = list(source)
    assert len(source.shards()) == 3 and sorted(e.id for e in examples) == [f"p{i}" for i in range(7)]
    assert all(max(e.image.size) == 64 for e in examples)
    summary = json.loads((tmp_path / "pack" / "pack.json").read_text())
    assert summary["photos"] == 7 and summary["max_side"] == 64
    small = _run("--images", str(photos), "--out", str(tmp_path / "small" / "train"), "--max-side", "64",
                 "--budget-mib", str(3 * 1400 / 2**20))
    assert small.returncode == 0, small.stderr
    assert 0 < json.loads((tmp_path / "small" / "pack.json").read_text())["photos"] < 7
    missing = _run("--images", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x"))
    assert missing.returncode != 0 and "no image files" in missing.stderr
