"""A small image world for `clip-audit overlap` runs: an evaluation folder, WebDataset shards, two tiny detectors."""
from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import torch

from clip_core.data import open_source
from clip_core.data.writers import write_image_folder, write_webdataset
from detector.checkpoint import save_detector
from detector.config import TINY, DetectorConfig
from detector.model import build_detector

SIZE = 32


@dataclass(frozen=True)
class ImageWorld:
    """Paths of one world: evaluation images, pre-training shards, detectors A and B (other weights)."""

    root: Path
    eval_dir: Path
    pretraining: Path
    detector_a: Path
    detector_b: Path


def add_corrupt_member(tar_path: Path, name: str) -> None:
    """Append a sample whose image does not decode."""
    payload = b"definitely not a png"
    with tarfile.open(tar_path, "a") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))


def build_image_world(root: Path, n_eval: int = 8, n_pretraining: int = 24, shard_size: int = 12) -> ImageWorld:
    """Evaluation images, pre-training shards holding exact copies of the first three, and two detectors."""
    evaluation = [(e.id.replace("/", "_"), e.image, e.label)
                  for e in open_source(f"synthetic:shapes?n={n_eval}&seed=3&size={SIZE}")]
    write_image_folder(evaluation, root / "eval", text_field="label")
    distractors = [(f"web{i:03d}", e.image, "a picture")
                   for i, e in enumerate(open_source(f"synthetic?n={n_pretraining - 3}&seed=9&size={SIZE}"))]
    copies = [(f"copy{i:03d}", image, "a copy") for i, (_, image, _) in enumerate(evaluation[:3])]
    write_webdataset(distractors + copies, root / "pretraining", shard_size=shard_size, ext="png")
    detectors = []
    for seed, name in ((0, "a"), (1, "b")):
        torch.manual_seed(seed)
        model = build_detector(DetectorConfig(trunk=TINY, dim=16, input_size=SIZE))
        detectors.append(save_detector(model, root / f"detector_{name}.pt", fold=True))
    return ImageWorld(root, root / "eval", root / "pretraining", detectors[0], detectors[1])


def overlap_args(world: ImageWorld, out: Path, pretraining: Path | None = None, detector: Path | None = None,
                 *extra: str) -> list[str]:
    """`clip-audit overlap` arguments for the world (global similarity only, an explicit threshold)."""
    return ["overlap", "--pretraining", str(pretraining or world.pretraining), "--eval", f"shapes={world.eval_dir}",
            "--detector", str(detector or world.detector_a), "--threshold", "shapes=0.9999", "--no-verify",
            "--out", str(out), *extra]
