"""Image inputs of `clip-audit overlap`: embed evaluation sets once, pre-training shards as streamed.

Evaluation sets are embedded with `detector.embed.embed_source` into ``OUT/eval/NAME`` (resumable).
Pre-training shards are embedded one at a time when the search reaches them; each shard's
unreadable images are written to ``OUT/skipped/<shard>.csv`` and counted, never fatal.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from clip_core.atomic_files import atomic_write_text
from detector.descriptor_files import DescriptorShard
from audit.overlap_run import PendingShard, shard_file_stem
from detector.checkpoint import calibrated_threshold, resolve_detector
from detector.embed import DescriptorRunner, EmbedConfig, embed_examples, embed_source, read_descriptors
from detector.model import Detector
from detector.sources import open_images


@lru_cache(maxsize=4)
def cached_detector(spec: str) -> Detector:
    """Load each detector once per process."""
    return resolve_detector(spec)


def embed_eval_images(name: str, source: str, detector_spec: str, out_dir: Path) -> tuple[list[str], np.ndarray, float | None]:
    """Embed an evaluation set (resumable) and return its ids, descriptors and the calibrated threshold."""
    model = cached_detector(detector_spec)
    result = embed_source(source, out_dir, model, detector_spec, EmbedConfig(progress=True))
    ids, descriptors = read_descriptors(out_dir)
    if not ids:
        raise ValueError(f"--eval {name}: no readable images in {source} ({result.skipped} unreadable, "
                         f"listed in {Path(out_dir) / 'skipped.csv'})")
    if result.skipped:
        tqdm.write(f"warning: --eval {name}: {result.skipped} of {result.count + result.skipped} images unreadable and "
                   f"left out of the audit (listed in {Path(out_dir) / 'skipped.csv'})")
    return ids, np.asarray(descriptors, dtype=np.float32), calibrated_threshold(model)


@lru_cache(maxsize=4)
def cached_runner(spec: str) -> DescriptorRunner:
    """Each detector prepared for inference once per process (once per worker under Ray)."""
    return DescriptorRunner(cached_detector(spec))


@dataclass(frozen=True)
class ImageShardLoader:
    """Embeds one pre-training image shard when called; picklable, so any engine's worker can run it."""

    shard: Any  # a clip_core.data Shard
    detector_spec: str
    out_dir: Path
    batch_size: int = 64

    def __call__(self) -> DescriptorShard:
        """The shard's ids and descriptors; its unreadable images go to OUT/skipped/<shard>.csv."""
        runner = cached_runner(self.detector_spec)
        self.shard.draft_size = runner.input_size  # JPEGs decoded only as large as the detector needs
        ids, matrix = embed_examples(runner, self.shard, self.batch_size)
        skipped = pd.DataFrame([(s.id, s.location, s.reason) for s in self.shard.skipped], columns=["id", "location", "reason"])
        atomic_write_text(Path(self.out_dir) / "skipped" / f"{shard_file_stem(self.shard.name)}.csv", skipped.to_csv(index=False))
        return DescriptorShard(self.shard.name, ids, matrix)

    def skipped(self) -> int:
        """How many of the shard's images the latest call found unreadable."""
        return len(self.shard.skipped)


def pretraining_image_shards(source: str, detector_spec: str, out_dir: Path, batch_size: int = 64) -> list[PendingShard]:
    """The pre-training source's shards, each embedded only when the search reaches it."""
    shards = open_images(source).shards()
    if not shards:
        raise ValueError(f"--pretraining {source}: the source has no shards")
    loaders = [ImageShardLoader(shard, detector_spec, Path(out_dir), batch_size) for shard in shards]
    return [PendingShard(loader.shard.name, loader, images=loader.shard, skipped=loader.skipped) for loader in loaders]
