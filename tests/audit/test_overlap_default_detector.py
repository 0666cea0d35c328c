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
from typer.testing import CliRunner

from audit.cli import app
from clip_core.data.writers import write_image_folder, write_webdataset
from detector.checkpoint import DEFAULT_WEIGHTS
from tests.audit.planted_scenes import copy_of, scene

pytestmark = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="the default detector is not shipped yet")
runner = CliRunner()


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
