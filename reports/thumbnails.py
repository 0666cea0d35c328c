"""Example pairs near a dataset's threshold, with thumbnails from the run's image sources.

The pairs are the best match of the evaluation examples closest to the threshold, half just at or
above it (counted as Overlap) and half just below (Clean). Images come from the sources recorded
in ``sources.json``; an image that is missing or unreadable is skipped and counted, never fatal.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from clip_core.data.imageio import jpeg_data_uri


@dataclass(frozen=True)
class PairImages:
    """Thumbnails (data URIs) by id for both sides, and how many wanted images were not found."""

    eval_images: dict[str, str]
    pretraining_images: dict[str, str]
    missing: int


def pairs_near_threshold(pairs: pd.DataFrame, dataset: str, threshold: float, per_side: int) -> pd.DataFrame:
    """Up to `per_side` pairs just at/above and just below the threshold on ``score``, highest first."""
    rows = pairs[pairs["dataset"] == dataset]
    above = rows[rows["score"] >= threshold].nsmallest(per_side, "score")
    below = rows[rows["score"] < threshold].nlargest(per_side, "score")
    chosen = pd.concat([above.assign(side="Overlap"), below.assign(side="Clean")], ignore_index=True)
    return chosen.sort_values(["score", "eval_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def _load(location: str | None, wanted: set[str], size: int) -> tuple[dict[str, str], int]:
    """Thumbnails of the wanted ids from an image source, and the count not found or unreadable."""
    if not wanted:
        return {}, 0
    if not location:
        return {}, len(wanted)
    from clip_core.data import open_source

    found: dict[str, str] = {}
    try:
        shards = open_source(location).shards()
    except (OSError, ValueError):
        return {}, len(wanted)  # the source moved or is gone: the pairs are listed without pictures
    for shard in shards:
        for example in shard.iter_selected(wanted - set(found)):
            try:
                found[example.id] = jpeg_data_uri(example.image, size)
            except OSError:
                continue
        if len(found) == len(wanted):
            break
    return found, len(wanted) - len(found)


def pair_images(pairs: pd.DataFrame, eval_location: str | None, pretraining_location: str | None, size: int) -> PairImages:
    """Thumbnails for the evaluation and pre-training side of the given pairs."""
    eval_images, eval_missing = _load(eval_location, set(pairs["eval_id"]), size)
    pretraining_images, pre_missing = _load(pretraining_location, set(pairs["pretraining_id"]), size)
    return PairImages(eval_images, pretraining_images, eval_missing + pre_missing)
