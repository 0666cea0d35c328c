"""The planted scenario of the overlap issue with the shipped default detector at its default threshold.

Evaluation images are copied, with augmentations, into WebDataset pre-training shards among
distractors; with the two-stage default path (global candidates, local-feature verification) the
Overlap split must recover the planted copies with precision >= 0.95 and recall >= 0.90 at the
default threshold on the two-stage score.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw, ImageFilter
from typer.testing import CliRunner

from audit.cli import app
from clip_core.data.writers import write_image_folder, write_webdataset
from detector.augment import colour_jitter, crop_zoom, jpeg, rescale
from detector.checkpoint import DEFAULT_WEIGHTS

pytestmark = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="the default detector is not shipped yet")
runner = CliRunner()


def scene(seed: int, size: int = 96) -> Image.Image:
    """A photo-like procedural image: a smooth colour field with blobs, lines and texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    field = np.zeros((size, size, 3))
    for _ in range(4):
        fx, fy, phase = rng.uniform(0.5, 4, 2).tolist() + [rng.uniform(0, 6.3)]
        field += rng.uniform(0, 1, 3) * (0.5 + 0.5 * np.sin(2 * np.pi * (fx * x + fy * y) + phase))[..., None]
    image = Image.fromarray(np.uint8(255 * field / field.max()))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 8))):
        box = sorted(rng.integers(0, size, 2).tolist()), sorted(rng.integers(0, size, 2).tolist())
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse([box[0][0], box[1][0], box[0][1] + 4, box[1][1] + 4], fill=colour)
        draw.line([tuple(rng.integers(0, size, 2).tolist()), tuple(rng.integers(0, size, 2).tolist())], fill=colour, width=2)
    return image.filter(ImageFilter.GaussianBlur(0.6))


def copy_of(image: Image.Image, seed: int) -> Image.Image:
    """An augmented copy, as a re-posted image would be."""
    rng = np.random.default_rng(seed)
    out = crop_zoom(image, rng, min_area=0.6)
    out = colour_jitter(out, rng, brightness=0.2, contrast=0.2, saturation=0.2, hue=0.03)
    out = rescale(out, rng)
    return jpeg(out, rng, min_quality=40, max_quality=90)


def test_planted_copies_are_recovered_at_the_default_threshold(tmp_path: Path) -> None:
    evaluation = [(f"eval{i:03d}", scene(i), None) for i in range(40)]
    written = write_image_folder(evaluation, tmp_path / "eval")
    planted = {written.ids[f"eval{i:03d}"]: f"copy{i:03d}" for i in range(0, 40, 2)}
    copies = [(f"copy{i:03d}", copy_of(evaluation[i][1], 1000 + i), "a copy") for i in range(0, 40, 2)]
    distractors = [(f"web{i:04d}", scene(10_000 + i), "a picture") for i in range(400)]
    order = np.random.default_rng(0).permutation(len(copies) + len(distractors))
    items = [(copies + distractors)[i] for i in order]
    write_webdataset(items, tmp_path / "pretraining", shard_size=100, ext="jpg")
    out = tmp_path / "overlap"
    result = runner.invoke(app, ["overlap", "--pretraining", str(tmp_path / "pretraining"), "--eval",
                                 f"photos={tmp_path / 'eval'}", "--detector", "default", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "overlap_table.csv", dtype={"id": str})
    found = set(table.loc[table["in_overlap"] == 1, "id"])
    truth = set(planted)
    precision = len(found & truth) / max(1, len(found))
    recall = len(found & truth) / len(truth)
    assert precision >= 0.95 and recall >= 0.90, (precision, recall, sorted(found ^ truth))
