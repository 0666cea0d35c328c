"""Turn `clip-audit overlap` arguments into evaluation sets and lazily loaded pre-training shards.

Either side may be given as precomputed descriptors (a folder in the `clip-audit embed` layout or
clip-retrieval's) or as images (any image source), which are embedded with the detector.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from detector.descriptor_files import DescriptorShard, is_descriptor_dir, read_descriptor_set, read_descriptor_shards
from audit.overlap_run import PendingShard
from audit.overlap_search import EvalSet


def _check_normalised(name: str, descriptors: np.ndarray) -> None:
    """Descriptors must be L2-normalised for inner products to be cosine similarities."""
    norms = np.linalg.norm(descriptors, axis=1)
    if descriptors.size and not np.allclose(norms, 1.0, atol=1e-3):
        raise ValueError(f"{name}: descriptors must be L2-normalised (row norms range {norms.min():.3g}..{norms.max():.3g})")


def eval_set_from(name: str, source: str, detector: str, out_dir: Path) -> tuple[EvalSet, float | None]:
    """An evaluation set from descriptors or images, with the detector's calibrated threshold if known."""
    if is_descriptor_dir(Path(source)):
        shard = read_descriptor_set(Path(source))
        _check_normalised(f"--eval {name}", shard.descriptors)
        return EvalSet(name, shard.ids, shard.descriptors), None
    from audit.overlap_images import embed_eval_images

    ids, descriptors, calibrated = embed_eval_images(name, source, detector, Path(out_dir) / "eval" / name)
    return EvalSet(name, ids, descriptors), calibrated


def pretraining_shards_from(source: str, detector: str, dim: int, out_dir: Path) -> tuple[list[PendingShard], int]:
    """Pre-training shards that load (read or embed) only when searched."""
    if is_descriptor_dir(Path(source)):
        shards = list(read_descriptor_shards(Path(source)))
        for shard in shards:
            if shard.descriptors.shape[1] != dim:
                raise ValueError(
                    f"--pretraining {source}: descriptor dimension {shard.descriptors.shape[1]} "
                    f"does not match the evaluation descriptors' {dim}"
                )
        return [PendingShard(s.name, (lambda s=s: s)) for s in shards], len(shards)
    from audit.overlap_images import pretraining_image_shards

    pending = pretraining_image_shards(source, detector, Path(out_dir))
    return pending, len(pending)


def image_sources(pretraining: str, eval_sources: dict[str, str]) -> dict[str, object]:
    """The image sources of a run (descriptor folders left out), for the inspection page."""
    return {
        "pretraining": None if is_descriptor_dir(Path(pretraining)) else pretraining,
        "eval": {name: source for name, source in eval_sources.items() if not is_descriptor_dir(Path(source))},
    }


__all__ = ["DescriptorShard", "eval_set_from", "image_sources", "pretraining_shards_from"]
